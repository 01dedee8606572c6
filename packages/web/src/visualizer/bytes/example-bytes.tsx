/** The real example bytes of a step of Provisio's own flows, in the byte view (example-steps.ts says which). */
import fixture from './example-fixture.json';
import { ByteView } from './byte-view';
import { type ExampleArtifact } from './example-steps';
import { fromBase64, JwsView } from './jws-view';
import { PairingPayloadView } from './payload-view';

const pairing = fixture.pairing;
const token = fixture.token;
const json = (value: unknown) => JSON.stringify(value, null, 2);

/** A call as the device sent it (the secret masked) and the status it got. */
function Sent({ call, testId }: { call: { method: string; path: string; request: unknown; status: number }; testId: string }) {
  return (
    <>
      <p className="muted"><code>{call.method} {call.path}</code> → {call.status}. Sent (the secret masked here; the device sends it in full):</p>
      <pre className="json" data-testid={testId}>{json(call.request)}</pre>
    </>
  );
}

function Artifact({ a }: { a: ExampleArtifact }) {
  switch (a) {
    case 'request': return <><h4>The signed request (.ppr)</h4><JwsView text={fixture.request} label="request" /></>;
    case 'profile': return <><h4>The certified profile (.pcp)</h4><JwsView text={fixture.profile} label="profile" /></>;
    case 'certificate': return <><h4>The device certificate</h4><ByteView der={fromBase64(fixture.certificate)} structure="certificate" label="device certificate" /></>;
    case 'pairing-hello':
      return (
        <>
          <h4>hello: deviceId and pairing code ({pairing.deviceId})</h4>
          <Sent call={pairing.hello} testId="sent-hello" />
          <p className="muted">Answered:</p>
          <pre className="json" data-testid="answer-hello">{json(pairing.hello.answer)}</pre>
        </>
      );
    case 'pairing-request':
      return (
        <>
          <h4>pair: deviceId, code and the CSR ({pairing.deviceId})</h4>
          <Sent call={pairing.pair} testId="sent-pair" />
          <ByteView der={fromBase64(pairing.pair.request.csr)} structure="csr" label="pairing CSR" />
        </>
      );
    case 'pairing-payload': return <><h4>The signed provisioning payload ({pairing.deviceId})</h4><PairingPayloadView payload={pairing.pair.answer.payload} /></>;
    case 'pairing-profile': return <><h4>The certified profile answered with it ({pairing.deviceId})</h4><JwsView text={pairing.pair.answer.profile} label="pairing profile" /></>;
    case 'pairing-certificate': return <><h4>The device certificate ({pairing.deviceId})</h4><ByteView der={fromBase64(pairing.certificate)} structure="certificate" label="paired device certificate" /></>;
    case 'device-audit':
      return (
        <>
          <h4>The device&apos;s security_audit_log.jsonl ({pairing.deviceId})</h4>
          <pre className="json" data-testid="device-audit">{pairing.deviceAudit.map((e) => JSON.stringify(e)).join('\n')}</pre>
        </>
      );
    case 'token-request':
      return (
        <>
          <h4>enroll: the token, deviceId and the CSR ({token.deviceId})</h4>
          <Sent call={token.enroll} testId="sent-enroll" />
          <ByteView der={fromBase64(token.enroll.request.csr)} structure="csr" label="token CSR" />
        </>
      );
    case 'token-profile': return <><h4>The certified profile ({token.deviceId})</h4><JwsView text={token.enroll.answer.profile} label="token profile" /></>;
    case 'token-certificate': return <><h4>The device certificate ({token.deviceId})</h4><ByteView der={fromBase64(token.certificate)} structure="certificate" label="enrolled device certificate" /></>;
  }
}

export function ExampleBytes({ artifacts }: { artifacts: readonly ExampleArtifact[] }) {
  if (artifacts.length === 0) return null;
  return (
    <div className="example-bytes" data-testid="example-bytes">
      <h3>Real bytes of this message</h3>
      <p className="muted">
        From real enrollments made by Provisio&apos;s own service and device SDK ({fixture.generatedAt.slice(0, 10)}; regenerate with
        {' '}<code>npm run fixture:visualizer -w @provisio/web</code>). Public bytes only: no key leaves the device.
      </p>
      {artifacts.map((a) => <div key={a} data-artifact={a}><Artifact a={a} /></div>)}
    </div>
  );
}
