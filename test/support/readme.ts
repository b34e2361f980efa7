import { readFileSync } from "node:fs";

export interface CodeBlock {
  lang: string;
  code: string;
  /** The heading the block sits under. */
  section: string;
}

/** Every fenced code block of README.md, with its language and section. */
export function readmeBlocks(path = "README.md"): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let section = "";
  const lines = readFileSync(path, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("#")) section = line.replace(/^#+\s*/, "");
    const open = /^```(\w+)\s*$/.exec(line);
    if (!open) continue;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) body.push(lines[i]!);
    blocks.push({ lang: open[1]!, code: body.join("\n"), section });
  }
  return blocks;
}
