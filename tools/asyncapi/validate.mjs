// Validate an AsyncAPI document with the official parser (@asyncapi/parser, pinned in
// package.json): the spec's JSON Schema, its Spectral rules, every $ref (the relative
// ones to docs/contract/schemas/*.json included) and every message payload schema.
//
//   node validate.mjs ../../docs/contract/asyncapi.yaml
//
// Prints one JSON object on stdout: the parser's version and every diagnostic, grouped
// by severity. Exit status: 0 no errors (warnings allowed, they are listed), 1 errors,
// 2 the validator itself could not run.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { Parser, fromFile } from "@asyncapi/parser";

const SEVERITIES = ["errors", "warnings", "infos", "hints"];

async function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write("usage: node validate.mjs <asyncapi.yaml>\n");
    return 2;
  }
  const source = resolve(argv[0]);
  const { version } = JSON.parse(
    readFileSync(new URL("./node_modules/@asyncapi/parser/package.json", import.meta.url)),
  );
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, source).parse();
  const report = { validator: `@asyncapi/parser@${version}`, source };
  for (const name of SEVERITIES) report[name] = [];
  for (const diagnostic of diagnostics) {
    report[SEVERITIES[diagnostic.severity] ?? "errors"].push({
      code: diagnostic.code,
      message: diagnostic.message,
      path: diagnostic.path.join("/"),
    });
  }
  if (document !== undefined) {
    report.asyncapi = document.version();
    report.channels = document.channels().length;
    report.operations = document.operations().length;
    report.messages = document.components().messages().length;
  } else if (report.errors.length === 0) {
    report.errors.push({ code: "no-document", message: "the parser returned no document" });
  }
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  return report.errors.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error) => {
    process.stderr.write(`validate.mjs: ${error?.stack ?? error}\n`);
    process.exit(2);
  },
);
