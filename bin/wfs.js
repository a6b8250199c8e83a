#!/usr/bin/env node
// The `wfs` command (package.json "bin"); the compiled CLI lives in dist/.
const { main } = require('../dist/apps/cli/src/main.js');
main(process.argv.slice(2)).then((code) => process.exit(code));
