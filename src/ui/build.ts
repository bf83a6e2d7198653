// Builds the dashboard: the browser code under src/ui/app bundled by esbuild into dist/ui/assets with
// content-hashed names (cached for a year by the server), pre-compressed copies (.gz, .br) that
// @koa/send serves to browsers that accept them, and dist/ui/index.html (never cached) naming them.
// `npm run build` runs this file; the browser tests call buildUi() themselves so a fresh clone needs
// no prior build. A running server keeps working during a build: the new assets are written first,
// index.html is swapped in by a rename, and only then are the old assets removed.
import { build } from 'esbuild';
import { mkdir, readdir, rename, rm, writeFile, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { basename, join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_OUT_DIR = join(ROOT, 'dist', 'ui');

export interface UiBuild {
  outDir: string;
  /** Asset file names (under outDir/assets), hashed. */
  js: string;
  css: string;
  jsBytes: number;
  jsGzipBytes: number;
}

function indexHtml(js: string, css: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>task-schedule</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/assets/${css}">
<script type="module" src="/ui/assets/${js}"></script>
</head>
<body>
<div id="app"><noscript>The task-schedule dashboard needs JavaScript. The API is at <a href="/openapi.json">/openapi.json</a>.</noscript></div>
</body>
</html>
`;
}

export async function buildUi(outDir = DEFAULT_OUT_DIR): Promise<UiBuild> {
  const assets = join(outDir, 'assets');
  await mkdir(assets, { recursive: true });
  const src = fileURLToPath(new URL('./app/', import.meta.url));
  const res = await build({
    entryPoints: { app: join(src, 'main.ts'), styles: join(src, 'styles.css') },
    outdir: assets,
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    target: ['es2020'],
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(res.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => /^app-.*\.js$/.test(f));
  const css = outputs.find((f) => /^styles-.*\.css$/.test(f));
  if (!js || !css) throw new Error(`ui build: missing outputs in ${outputs.join(', ')}`);

  let jsBytes = 0;
  let jsGzipBytes = 0;
  for (const f of [js, css]) {
    const body = await readFile(join(assets, f));
    const gz = gzipSync(body, { level: 9 });
    await writeFile(join(assets, `${f}.gz`), gz);
    await writeFile(join(assets, `${f}.br`), brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
    if (f === js) {
      jsBytes = body.length;
      jsGzipBytes = gz.length;
    }
  }

  const tmp = join(outDir, `index.html.${process.pid}.tmp`);
  await writeFile(tmp, indexHtml(js, css));
  await rename(tmp, join(outDir, 'index.html'));

  // Old builds' assets go once the new index.html names the new ones.
  const keep = new Set(outputs.flatMap((f) => [f, `${f}.gz`, `${f}.br`]));
  for (const f of await readdir(assets)) if (!keep.has(f)) await rm(join(assets, f), { force: true });
  return { outDir, js, css, jsBytes, jsGzipBytes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildUi(process.argv[2] ?? DEFAULT_OUT_DIR).then(
    (b) => console.log(`ui: ${b.outDir}/assets/${b.js} ${(b.jsBytes / 1024).toFixed(1)} KiB (${(b.jsGzipBytes / 1024).toFixed(1)} KiB gzipped), ${b.css}`),
    (e) => {
      console.error('ui build failed:', e);
      process.exit(1);
    },
  );
}
