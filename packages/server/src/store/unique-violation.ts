import { StoreConflict } from '../domain/store.js';
import { UNIQUE_CONSTRAINTS } from './schema.js';

/**
 * A unique or primary-key violation as a `StoreConflict` naming the constraint, or null for any
 * other error. PostgreSQL (SQLSTATE 23505) names the constraint; SQLite
 * (SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY) names "table.column, …", mapped back to the same name.
 */
export function toStoreConflict(error: unknown): StoreConflict | null {
  if (error instanceof StoreConflict) return error;
  if (typeof error !== 'object' || error === null) return null;
  const { code, constraint, message } = error as { code?: unknown; constraint?: unknown; message?: unknown };
  if (code === '23505') {
    return new StoreConflict(typeof constraint === 'string' ? constraint : 'unknown');
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const detail = /constraint failed: (.*)$/.exec(String(message))?.[1]?.trim() ?? '';
    return new StoreConflict(sqliteConstraintName(detail) ?? (detail || 'unknown'));
  }
  return null;
}

/** "components.system_id, components.name" → "components_system_id_name_key"; "index 'x'" → "x". */
function sqliteConstraintName(detail: string): string | null {
  const index = /^index '([^']+)'$/.exec(detail);
  if (index?.[1]) return index[1];
  const parts = detail.split(',').map((p) => p.trim().split('.'));
  const table = parts[0]?.[0];
  if (!table || parts.some((p) => p.length !== 2 || p[0] !== table)) return null;
  const columns = parts.map((p) => p[1]).join(',');
  for (const [name, c] of Object.entries(UNIQUE_CONSTRAINTS)) {
    if (c.table === table && c.columns.join(',') === columns) return name;
  }
  return null;
}
