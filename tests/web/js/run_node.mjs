// Runs the codec's vector tests in Node (a developer's quick check; CI runs them in Chromium).
import { readdirSync, readFileSync } from "node:fs";
import { runVectors } from "./vectors.test.js";

const dir = new URL("../../vectors/", import.meta.url);
const files = {};
for (const f of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
  files[f] = readFileSync(new URL(f, dir), "utf-8");
}
const { count, failures } = runVectors(files);
for (const f of failures) console.log("FAIL", f);
console.log(`${count} vectors, ${failures.length} failures`);
process.exit(failures.length ? 1 : 0);
