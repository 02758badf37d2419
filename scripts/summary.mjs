// Sums the results of every suite into the closing line "N passed, N failed" and exits
// non-zero when anything failed or a suite produced no results at all.
import { existsSync, readFileSync } from "node:fs";

let passed = 0;
let failed = 0;
const missing = [];

if (existsSync(".tmp/checks.txt")) {
  for (const line of readFileSync(".tmp/checks.txt", "utf8").split("\n")) {
    if (line.startsWith("pass ")) passed++;
    else if (line.startsWith("fail ")) {
      failed++;
      console.log(`✗ check failed: ${line.slice(5)}`);
    }
  }
}

if (existsSync(".vitest-results.json")) {
  const v = JSON.parse(readFileSync(".vitest-results.json", "utf8"));
  passed += v.numPassedTests ?? 0;
  failed += v.numFailedTests ?? 0;
  // A file that failed to load reports no tests but is a failure all the same.
  for (const f of v.testResults ?? []) {
    if (f.status === "failed" && (f.assertionResults ?? []).length === 0) {
      failed++;
      console.log(`✗ suite failed to run: ${f.name}`);
    }
  }
} else missing.push("vitest");

if (existsSync(".e2e-results.json")) {
  const e = JSON.parse(readFileSync(".e2e-results.json", "utf8"));
  const s = e.stats ?? {};
  passed += (s.expected ?? 0) + (s.flaky ?? 0);
  failed += s.unexpected ?? 0;
  for (const err of e.errors ?? []) {
    failed++;
    console.log(`✗ e2e error: ${String(err.message ?? "").split("\n")[0]}`);
  }
} else missing.push("e2e");

for (const m of missing) {
  failed++;
  console.log(`✗ the ${m} suite produced no results`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
