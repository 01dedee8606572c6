#!/usr/bin/env node
// The installed `provisio` command. A checked-in launcher rather than a bin pointing into dist/:
// npm links bins before the root "prepare" script builds dist/, and skips (never links, never
// chmods) a bin whose file does not exist yet, so a fresh `npm ci` would leave no `provisio`.
import '../dist/main.js';
