import { defineConfig } from "vitest/config";

// Unit tests run against a scripted fake server; integration and browser
// tests start the real chatgate binary (test/global-setup.ts builds it
// unless CHATGATE_BIN names one). Timeouts are generous: CI machines are busy.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60000,
    hookTimeout: 180000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
