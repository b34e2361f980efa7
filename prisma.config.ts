import { defineConfig } from "prisma/config";

// process.env, not env(): env() throws when DATABASE_URL is unset, which would break the
// offline `prisma generate` that runs on `npm ci` (TOOLCHAIN.md).
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
