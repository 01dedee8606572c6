/** The real example bytes of a step of Provisio's own flows, in the byte view (example-steps.ts says which). */
import fixture from './example-fixture.json';
import { ByteView } from './byte-view';
import { type ExampleArtifact } from './example-steps';
import { fromBase64, JwsView } from './jws-view';

export function ExampleBytes({ artifacts }: { artifacts: readonly ExampleArtifact[] }) {
  if (artifacts.length === 0) return null;
  return (
    <div className="example-bytes" data-testid="example-bytes">
      <h3>Real bytes of this message</h3>
      <p className="muted">
        From a real provisioning made by Provisio&apos;s own service and device SDK ({fixture.generatedAt.slice(0, 10)}; regenerate with
        {' '}<code>npm run fixture:visualizer -w @provisio/web</code>). Public bytes only: no key leaves the device.
      </p>
      {artifacts.map((a) => (
        <div key={a} data-artifact={a}>
          {a === 'request' && <><h4>The signed request (.ppr)</h4><JwsView text={fixture.request} label="request" /></>}
          {a === 'profile' && <><h4>The certified profile (.pcp)</h4><JwsView text={fixture.profile} label="profile" /></>}
          {a === 'certificate' && <><h4>The device certificate</h4><ByteView der={fromBase64(fixture.certificate)} structure="certificate" label="device certificate" /></>}
        </div>
      ))}
    </div>
  );
}
