/** Small shared pieces: error box, CLI command with a copy button, state badge, dates. */
import { useState } from 'react';
import { ApiError } from './api';

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : 'client_error';
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="error" role="alert">
      <strong>Error</strong> <code className="code">{code}</code>: {message}
    </div>
  );
}

/** The equivalent CLI command, ready to copy (the CLI reads PROVISIO_URL and PROVISIO_TOKEN). */
export function CliCommand({ command }: { command: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(command);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div className="cli">
      <span className="cli-label">CLI</span>
      <code data-testid="cli-command">{command}</code>
      <button type="button" className="secondary small" onClick={() => void copy()} aria-label="Copy the CLI command">
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

const STATE_TEXT: Record<string, string> = {
  pending: 'Needs approval',
  approved: 'Approved',
  provisioned: 'Provisioned',
  rejected: 'Rejected',
  revoked: 'Revoked',
  active: 'Active',
  used: 'Used',
  expired: 'Expired',
  locked: 'Locked',
};

const REQUEST_KIND_TEXT: Record<string, string> = {
  provision: 'provisioning',
  renewal: 'renewal',
  reprovision: 'reprovisioning',
};

/** What a request asks for, in words: "provisioning", "renewal", "reprovisioning". */
export function requestKindText(kind: string | undefined): string {
  return REQUEST_KIND_TEXT[kind ?? 'provision'] ?? kind ?? 'provisioning';
}

/** "Needs approval — reprovisioning" (and "expired" once approval can only be refused). */
export function NeedsApprovalBadge({ kind, expiresAt, now = Date.now() }: { kind: string; expiresAt: string; now?: number }) {
  const expired = Date.parse(expiresAt) <= now;
  return <span className="badge badge-pending">Needs approval — {requestKindText(kind)}{expired ? ' (expired)' : ''}</span>;
}

/** A state as text (with a colour that only repeats it). */
export function StateBadge({ state }: { state: string }) {
  return <span className={`badge badge-${state}`}>{STATE_TEXT[state] ?? state}</span>;
}

export function When({ at }: { at: string | null }) {
  if (!at) return <span>—</span>;
  return <time dateTime={at}>{at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>;
}

/** "3 minutes ago" style age, from ISO time. */
export function age(at: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(at)) / 1000));
  if (s < 90) return `${s} seconds`;
  if (s < 5400) return `${Math.round(s / 60)} minutes`;
  if (s < 129600) return `${Math.round(s / 3600)} hours`;
  return `${Math.round(s / 86400)} days`;
}

/** Quotes an argument for a POSIX shell when it needs it. */
export function sh(arg: string): string {
  return /^[A-Za-z0-9._:/=@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
