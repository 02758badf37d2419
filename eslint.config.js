// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "fixtures/**",
      "bench/results/**",
      "test-results/**",
      "playwright-report/**",
      ".tmp/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    // Browser packages: no Node built-ins in their own code (STYLE.md §8).
    files: ["packages/core/src/**/*.ts", "packages/hlsjs/src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "Browser packages use no Node built-ins." },
            {
              group: [
                "buffer",
                "stream",
                "crypto",
                "fs",
                "path",
                "os",
                "util",
                "http",
                "https",
                "net",
              ],
              message: "Browser packages use no Node built-ins.",
            },
          ],
        },
      ],
    },
  },
);
