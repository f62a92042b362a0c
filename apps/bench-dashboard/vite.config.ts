/**
 * Builds the dashboard page (web/) into dist/. The data the page shows is collected from the results
 * directory and the conformance matrix (src/collect.ts) into `data.json`: emitted into the build, and
 * collected afresh on every request by the dev server, so new results show on reload.
 */
import { fileURLToPath } from 'node:url';
import { type Plugin, defineConfig } from 'vite';
import { collect, sourcesFromEnv } from './src/collect.js';

const DATA_FILE = 'data.json';

function dashboardData(): Plugin {
  const json = (): string => JSON.stringify(collect(sourcesFromEnv()));
  return {
    name: 'tessera-dashboard-data',
    configureServer(server) {
      server.middlewares.use(`/${DATA_FILE}`, (_req, res) => {
        try {
          const body = json();
          res.setHeader('Content-Type', 'application/json');
          res.end(body);
        } catch (e) {
          // The page shows this text, so a malformed results file is named there, not only in the terminal.
          res.statusCode = 500;
          res.end((e as Error).message);
        }
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: DATA_FILE, source: json() });
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('./web/', import.meta.url)),
  // Relative asset URLs, so dist/ can be served from any path.
  base: './',
  plugins: [dashboardData()],
  build: {
    outDir: fileURLToPath(new URL('./dist/', import.meta.url)),
    // dist/ lies outside root (web/), where Vite would otherwise refuse to empty it.
    emptyOutDir: true,
  },
});
