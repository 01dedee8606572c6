/**
 * The bytes of one DER value, two ways and linked (as the lapo ASN.1 decoder does): the ASN.1 tree
 * with every field named, and the hex dump. Selecting or hovering a tree node marks its bytes;
 * selecting a byte (click, or ← → ↑ ↓ in the focused dump) selects the deepest node holding it.
 * Marked bytes are underlined and bold, tag-and-length bytes dotted, and the selection is also
 * said in words below, so no state rests on colour alone.
 */
import { type KeyboardEvent, useId, useMemo, useState } from 'react';
import { type DerNode, decodeDer, flatten, hex, nodeAt, type Structure } from './der-tree';

const ROW = 16;

export function ByteView({ der, structure, label }: { der: Uint8Array; structure: Structure; label: string }) {
  const root = useMemo(() => {
    try {
      return decodeDer(der, structure);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }, [der, structure]);
  if (root instanceof Error) return <p className="note">{label}: the bytes do not decode as DER ({root.message}).</p>;
  return <DerView der={der} root={root} label={label} />;
}

function DerView({ der, root, label }: { der: Uint8Array; root: DerNode; label: string }) {
  const prefix = useId().replace(/:/g, '');
  const order = useMemo(() => flatten(root), [root]);
  const [selected, setSelected] = useState<DerNode>(root);
  const [hovered, setHovered] = useState<DerNode | null>(null);
  const [cursor, setCursor] = useState<number | null>(null);
  const marked = hovered ?? selected;

  const select = (node: DerNode, focus = false) => {
    setSelected(node);
    if (focus) document.getElementById(`${prefix}-${node.id}`)?.focus();
  };
  const onTreeKey = (e: KeyboardEvent) => {
    const i = order.findIndex((o) => o.node.id === selected.id);
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: order.length - 1 }[e.key];
    if (to === undefined) return;
    // The flow player listens for arrows on the window: inside the tree they move the selection.
    e.preventDefault();
    e.stopPropagation();
    const next = order[Math.min(Math.max(to, 0), order.length - 1)];
    if (next) select(next.node, true);
  };
  const pickByte = (offset: number) => {
    const o = Math.min(Math.max(offset, 0), der.length - 1);
    setCursor(o);
    setSelected(nodeAt(root, o));
  };
  const onDumpKey = (e: KeyboardEvent) => {
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: ROW, ArrowUp: -ROW }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    e.stopPropagation();
    pickByte((cursor ?? selected.start) + step);
  };

  const path = pathTo(root, selected.id).map((n) => n.name ?? n.type).join(' › ');
  const rows = [];
  for (let r = 0; r < der.length; r += ROW) {
    rows.push(
      <div className="hexrow" key={r}>
        <span className="hexoff" aria-hidden="true">{r.toString(16).padStart(4, '0')}</span>
        {Array.from(der.subarray(r, r + ROW), (b, k) => {
          const at = r + k;
          const inside = at >= marked.start && at < marked.end;
          const cls = [inside ? (at < marked.contentStart ? 'hx hx-head' : 'hx hx-mark') : 'hx', at === cursor ? 'hx-cursor' : ''].join(' ');
          return <span key={at} className={cls} data-offset={at}>{b.toString(16).padStart(2, '0')}</span>;
        })}
      </div>,
    );
  }

  return (
    <div className="byteview" data-testid="byteview">
      <div className="byteview-panes">
        <ul className="der-tree" role="tree" aria-label={`${label}: ASN.1 structure`} onKeyDown={onTreeKey} data-testid="der-tree">
          <TreeItem node={root} level={1} prefix={prefix} selectedId={selected.id} onSelect={select} onHover={setHovered} />
        </ul>
        <div
          className="hexdump"
          role="group"
          aria-label={`${label}: bytes in hex; arrow keys select a byte and its field`}
          tabIndex={0}
          onKeyDown={onDumpKey}
          onClick={(e) => {
            const offset = (e.target as HTMLElement).dataset.offset;
            if (offset !== undefined) pickByte(Number(offset));
          }}
          data-testid="hexdump"
        >
          {rows}
        </div>
      </div>
      <p className="byteview-status" role="status" aria-live="polite" data-testid="byteview-status">
        Selected <strong data-testid="selected-path">{path}</strong> ({selected.type}{selected.value ? `: ${selected.value}` : ''}): bytes {selected.start}–{selected.end - 1}, {selected.end - selected.start} bytes ({selected.contentStart - selected.start} of tag and length, {selected.end - selected.contentStart} of value).
      </p>
      <details>
        <summary>The selected bytes in hex</summary>
        <code className="wrap" data-testid="selected-hex">{hex(der.subarray(selected.start, selected.end))}</code>
      </details>
    </div>
  );
}

function TreeItem(props: { node: DerNode; level: number; prefix: string; selectedId: string; onSelect: (n: DerNode) => void; onHover: (n: DerNode | null) => void }) {
  const { node, level, prefix, selectedId, onSelect, onHover } = props;
  const isSelected = node.id === selectedId;
  return (
    // The group of children is the treeitem's sibling (ARIA lets a tree own groups), so each
    // item's name is its own line, not its whole subtree.
    <li role="none">
      <span
        id={`${prefix}-${node.id}`}
        role="treeitem"
        aria-level={level}
        aria-selected={isSelected}
        tabIndex={isSelected ? 0 : -1}
        data-node={node.id}
        data-name={node.name ?? undefined}
        className={isSelected ? 'der-node der-selected' : 'der-node'}
        onClick={() => onSelect(node)}
        onMouseEnter={() => onHover(node)}
        onMouseLeave={() => onHover(null)}
      >
        {isSelected ? <span aria-hidden="true">▸ </span> : null}
        {node.name ? <strong className="der-name">{node.name}</strong> : null}
        {' '}<span className="der-type">{node.type}</span>
        {node.value ? <> <code className="der-value" data-testid="der-value">{node.value}</code></> : null}
      </span>
      {node.children.length > 0 && (
        <ul role="group">
          {node.children.map((c) => <TreeItem key={c.id} {...props} node={c} level={level + 1} />)}
        </ul>
      )}
    </li>
  );
}

function pathTo(root: DerNode, id: string): DerNode[] {
  const out = [root];
  let node = root;
  for (const part of id.split('.').slice(1)) {
    const next = node.children[Number(part)];
    if (!next) break;
    out.push(next);
    node = next;
  }
  return out;
}
