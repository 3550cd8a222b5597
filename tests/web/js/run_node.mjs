// Runs the codec's vector tests in Node (a developer's quick check; CI runs them in Chromium).
import { readdirSync, readFileSync } from "node:fs";
import { runClientTests } from "./client.test.js";
import { runVectors } from "./vectors.test.js";

const dir = new URL("../../vectors/", import.meta.url);
const files = {};
for (const f of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
  files[f] = readFileSync(new URL(f, dir), "utf-8");
}
const vectors = runVectors(files);
const client = await runClientTests();
const failures = [...vectors.failures, ...client.failures];
for (const f of failures) console.log("FAIL", f);
console.log(`${vectors.count} vectors, ${client.count} client tests, ${failures.length} failures`);
process.exit(failures.length ? 1 : 0);
