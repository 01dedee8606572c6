/**
 * The Mermaid export is read by Mermaid itself: each flow's diagram (every method and every
 * lifecycle flow) is parsed and rendered by
 * Mermaid's own browser bundle in Debian's Chromium (its sequence parser needs a DOM), and what
 * Mermaid understood — participants, their boxes, every message with its line type — is compared
 * with the model. A broken diagram is refused, so the check can fail.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { findMethod, FLOWS, LIFECYCLE_FLOWS, METHODS, PROTOCOL_FLOWS, type Method } from '../src/visualizer/model/index.js';
import { toMermaid } from '../src/visualizer/model/mermaid.js';
import { launchBrowser } from './browser-harness.js';

const MERMAID_BUNDLE = createRequire(import.meta.url).resolve('mermaid/dist/mermaid.min.js');

interface Understood {
  actors: { id: string; description: string }[];
  boxes: { name: string; actors: string[] }[];
  messages: { from: string; to: string; line: 'solid' | 'dotted' | 'other'; text: string }[];
  notes: number;
  renderedMessages: number;
}

/**
 * Runs in the page (a string: the tests compile without DOM types). Parses with `mermaid.parse`
 * (throws on a syntax error), reads the sequence diagram's database, and renders the SVG.
 */
const UNDERSTAND = `async (source) => {
  const mermaid = globalThis.mermaid;
  await mermaid.parse(source);
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(source);
  const db = diagram.db;
  const T = db.LINETYPE;
  const line = (type) => (type === T.SOLID ? 'solid' : type === T.DOTTED ? 'dotted' : 'other');
  const all = db.getMessages();
  const { svg } = await mermaid.render('d' + Math.random().toString(36).slice(2), source);
  const rendered = new DOMParser().parseFromString(svg, 'image/svg+xml').querySelectorAll('.messageText').length;
  return {
    actors: [...db.getActors().values()].map((a) => ({ id: a.name, description: a.description })),
    boxes: db.getBoxes().map((b) => ({ name: b.name, actors: [...b.actorKeys] })),
    messages: all.filter((m) => m.type !== T.NOTE && m.type !== T.AUTONUMBER && m.from !== undefined)
      .map((m) => ({ from: m.from, to: m.to, line: line(m.type), text: m.message })),
    notes: all.filter((m) => m.type === T.NOTE).length,
    renderedMessages: rendered,
  };
}`;

describe('Mermaid export read by Mermaid', () => {
  let browser: Browser;
  let page: Page;

  async function understand(source: string): Promise<Understood> {
    return page.evaluate(`(${UNDERSTAND})(${JSON.stringify(source)})`) as Promise<Understood>;
  }

  before(async () => {
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ content: readFileSync(MERMAID_BUNDLE, 'utf8') });
    await page.evaluate('mermaid.initialize({ startOnLoad: false, securityLevel: "strict" })');
  });

  after(async () => {
    await browser?.close();
  });

  it('ok/every-flow-is-checked', () => {
    // The loop below covers the lifecycle and protocol flows too, not only the methods.
    assert.equal(FLOWS.length, METHODS.length + LIFECYCLE_FLOWS.length + PROTOCOL_FLOWS.length);
    for (const f of [...LIFECYCLE_FLOWS, ...PROTOCOL_FLOWS]) assert.ok(FLOWS.includes(f), f.id);
  });

  for (const m of FLOWS) {
    it(`ok/${m.id}/parsed-and-rendered-as-the-model-says`, async () => {
      const got = await understand(toMermaid(m));
      assert.deepEqual(got.actors.map((a) => a.id).sort(), m.actors.map((a) => a.id).sort(), 'exactly the model\'s actors');
      for (const a of m.actors) assert.equal(got.actors.find((x) => x.id === a.id)?.description, a.name);
      // Each trust zone is one box holding its actors, in the model's order.
      assert.deepEqual(got.boxes, m.zones.map((z) => ({ name: z.name, actors: m.actors.filter((a) => a.zone === z.id).map((a) => a.id) })));
      assert.equal(got.messages.length, m.steps.length, 'one message per step');
      m.steps.forEach((s, i) => {
        const msg = got.messages[i];
        assert.equal(msg?.from, s.from);
        assert.equal(msg?.to, s.to);
        // The line repeats the model (solid: secure, dotted: insecure), and the text says which.
        assert.equal(msg?.line, s.channel.secure ? 'solid' : 'dotted');
        assert.match(msg?.text ?? '', s.channel.secure ? /, secure\]$/ : /, insecure\]$/);
      });
      assert.equal(got.notes, m.steps.filter((s) => s.duration.humanWait).length, 'a note for each human wait');
      assert.equal(got.renderedMessages, m.steps.length, 'every message drawn');
    });
  }

  it('ok/separators-in-model-text-are-escaped', async () => {
    const m = findMethod('provisio-connected') as Method;
    const tricky: Method = { ...m, steps: m.steps.map((s, i) => (i === 0 ? { ...s, title: 'a; b # c\nd' } : s)) };
    const got = await understand(toMermaid(tricky));
    assert.equal(got.messages.length, m.steps.length);
    assert.match(got.messages[0]?.text ?? '', /^a, b no\. c d \[/);
  });

  it('fail/mermaid-refuses-a-broken-diagram', async () => {
    const good = toMermaid(METHODS[0] as Method);
    await assert.rejects(understand(good.replace('sequenceDiagram', 'sequenceDiagrm')));
    await assert.rejects(understand(`${good}  device->>: no receiver\n`));
  });
});
