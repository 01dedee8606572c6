import { type FormEvent, useState } from 'react';
import { ApiError, postJson, type Session } from '../api';
import { ErrorBox } from '../widgets';

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await postJson<Session>('/api/v1/session', { username, password }));
    } catch (err) {
      setError(err);
      // The username stays; the password field is cleared only for a wrong password.
      if (err instanceof ApiError && err.code === 'sign_in_failed') setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in" id="main">
      <h1>Sign in to Provisio</h1>
      <form onSubmit={(e) => void submit(e)} aria-describedby="sign-in-help">
        <p id="sign-in-help" className="muted">
          Use the admin password printed when the service first started, or your own.
        </p>
        <label htmlFor="username">Username</label>
        <input id="username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
