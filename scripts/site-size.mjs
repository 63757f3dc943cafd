// What a page of the portal downloads, gzipped: the main module, its JS glue and the split
// loader the glue imports, plus, for a page of a lazy section, the section's module and the
// chunks it shares with other sections (from the split manifest). A Markdown table, largest last.
// With `--budget KIB`, fails when any page's wasm is above that many KiB gzipped.
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

// The current build's folder (scripts/build-site.sh names it in target/site/pkg/BUILD).
const args = process.argv.slice(2);
const budgetAt = args.indexOf('--budget');
const budget = budgetAt < 0 ? null : Number(args.splice(budgetAt, 2)[1]);
if (budget !== null && !(budget > 0)) throw new Error('--budget takes a number of KiB');
const pkg = args[0] ?? join('target/site/pkg', readFileSync('target/site/pkg/BUILD', 'utf8').trim());
const size = (file) => statSync(join(pkg, `${file}.gz`)).size;
// The main module's glue imports the split loader, so every page has these three.
const loader = '__wasm_split.______________________.js';
const shellJs = size('wharf.js') + size(loader);
const shellWasm = size('wharf_bg.wasm');
const manifest = JSON.parse(readFileSync(join(pkg, '__wasm_split_manifest.json'), 'utf8'));
const rows = [['sign-in and first-run setup (the shell alone)', 3, shellWasm, shellJs]];
for (const [split, deps] of Object.entries(manifest)) {
  const files = new Set(deps.map((d) => `${d}.wasm`));
  files.add(`split_${split}.wasm`);
  const own = [...files].filter((f) => existsSync(join(pkg, `${f}.gz`)));
  const section = split.replace(/_\d+$/, '');
  rows.push([`section \`${section}\``, 3 + own.length, shellWasm + own.reduce((n, f) => n + size(f), 0), shellJs]);
}
rows.sort((a, b) => a[2] + a[3] - b[2] - b[3]);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log('| page | files | wasm, gzipped | with its JS | in bytes |\n|---|---|---|---|---|');
for (const [page, files, wasm, js] of rows) console.log(`| ${page} | ${files} | ${kib(wasm)} | ${kib(wasm + js)} | ${wasm.toLocaleString('en')} + ${js.toLocaleString('en')} |`);
if (budget !== null) {
  const over = rows.filter(([, , wasm]) => wasm > budget * 1024);
  for (const [page, , wasm] of over) console.error(`${page}: ${kib(wasm)} of wasm, over the ${budget} KiB budget`);
  if (over.length) process.exit(1);
  console.log(`every page's wasm is within ${budget} KiB gzipped`);
}
