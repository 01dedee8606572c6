/** Chooses between the public flow visualizer (no session, no API) and the signed-in admin UI. */
import { App } from './app';
import { useLocation } from './router';
import { VisualizerApp } from './visualizer/app';

export function Root() {
  const { path } = useLocation();
  return path === '/visualizer' || path.startsWith('/visualizer/') ? <VisualizerApp /> : <App />;
}
