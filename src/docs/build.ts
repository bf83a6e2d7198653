// Builds the API reference page (GET /docs): Swagger UI's prebuilt bundle and style sheet (the
// swagger-ui-dist package, a build-time dependency like esbuild) copied into dist/docs/assets with
// content-hashed names and pre-compressed copies, a small start-up script of ours (no inline script:
// the page's Content-Security-Policy forbids it), and dist/docs/index.html naming them. The page reads
// /openapi.json from the member that serves it and loads nothing from anywhere else.
// `npm run build` runs this file; the browser test calls buildDocs() itself.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_DOCS_DIR = join(ROOT, 'dist', 'docs');

export interface DocsBuild {
  outDir: string;
  /** Asset file names under outDir/assets. */
  js: string;
  css: string;
  init: string;
  swaggerUiVersion: string;
}

/**
 * Swagger UI's options: the document of this member; no validator badge (it would call
 * validator.swagger.io); deep links to operations; "Try it out" talks to this same member.
 */
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#docs',
    deepLinking: true,
    validatorUrl: null,
    layout: 'BaseLayout',
    presets: [SwaggerUIBundle.presets.apis],
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    persistAuthorization: false,
    withCredentials: false
  });
});
`;

function indexHtml(b: Pick<DocsBuild, 'js' | 'css' | 'init'>): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>task-schedule API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/assets/${b.css}">
<script src="/docs/assets/${b.js}" defer></script>
<script src="/docs/assets/${b.init}" defer></script>
</head>
<body>
<div id="docs"><noscript>The API reference needs JavaScript. The document itself is at <a href="/openapi.json">/openapi.json</a>.</noscript></div>
</body>
</html>
`;
}

const hashed = (name: string, ext: string, body: Buffer | string) => `${name}-${createHash('sha256').update(body).digest('hex').slice(0, 10)}.${ext}`;

export async function buildDocs(outDir = DEFAULT_DOCS_DIR): Promise<DocsBuild> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('swagger-ui-dist/package.json'));
  const swaggerUiVersion = JSON.parse(await readFile(join(dist, 'package.json'), 'utf8')).version as string;
  // The source map comment would make browsers' tools ask for a map we do not serve.
  const bundle = Buffer.from((await readFile(join(dist, 'swagger-ui-bundle.js'), 'utf8')).replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'));
  const css = Buffer.from((await readFile(join(dist, 'swagger-ui.css'), 'utf8')).replace(/\/\*# sourceMappingURL=\S+ \*\/\s*$/, ''));
  const files: [string, Buffer | string][] = [
    [hashed('swagger-ui-bundle', 'js', bundle), bundle],
    [hashed('swagger-ui', 'css', css), css],
    [hashed('docs-init', 'js', INIT), INIT],
  ];
  const assets = join(outDir, 'assets');
  await mkdir(assets, { recursive: true });
  for (const [name, body] of files) {
    await writeFile(join(assets, name), body);
    await writeFile(join(assets, `${name}.gz`), gzipSync(body, { level: 9 }));
    await writeFile(join(assets, `${name}.br`), brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  }
  // Swagger UI's licence travels with its copy (Apache-2.0).
  for (const f of ['LICENSE', 'NOTICE']) await writeFile(join(outDir, `swagger-ui-${f}.txt`), await readFile(join(dist, f))).catch(() => {});
  const b = { outDir, js: files[0]![0], css: files[1]![0], init: files[2]![0], swaggerUiVersion };
  const tmp = join(outDir, `index.html.${process.pid}.tmp`);
  await writeFile(tmp, indexHtml(b));
  await rename(tmp, join(outDir, 'index.html'));
  // Old builds' assets go once the new index.html names the new ones.
  const keep = new Set(files.flatMap(([f]) => [f, `${f}.gz`, `${f}.br`]));
  for (const f of await readdir(assets)) if (!keep.has(f)) await rm(join(assets, f), { force: true });
  return b;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildDocs(process.argv[2] ?? DEFAULT_DOCS_DIR).then(
    (b) => console.log(`docs: ${b.outDir} (Swagger UI ${b.swaggerUiVersion}: ${b.js}, ${b.css})`),
    (e) => {
      console.error('docs build failed:', e);
      process.exit(1);
    },
  );
}
