// Builds the console into web/dist (served by Firebase Hosting): bundles and minifies the JS
// and CSS with esbuild, copies index.html, and prints the gzipped sizes.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: { app: join(here, "src", "main.js") },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  outdir: dist,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(here, "index.html"), join(dist, "index.html"));
for (const file of ["app.js", "app.css"]) {
  const raw = readFileSync(join(dist, file));
  console.log(`[web] ${file}: ${(raw.length / 1024).toFixed(0)} KiB, ${(gzipSync(raw).length / 1024).toFixed(0)} KiB gzipped`);
}
