// The admin UI is built into dist/ and served by `provisio serve` at / (docs/web.md).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The service's Content-Security-Policy allows no inline script: keep everything in files.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    // `npm run dev -w @provisio/web` against a local `provisio serve` (its dev CA is not trusted here).
    proxy: { '/api': { target: 'https://127.0.0.1:8443', secure: false } },
  },
});
