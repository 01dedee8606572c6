/** Help for the commands that talk to a running service. Each leads with an example. */

const CONNECTION = `
Connection (every command here):
  PROVISIO_URL       the service, e.g. https://127.0.0.1:8443 (the default)
  PROVISIO_TOKEN     an API token; or --token-file FILE (a token is never a flag value)
  PROVISIO_CA_FILE   the root certificate to trust for TLS ("provisio serve" prints its path)
  --json             machine-readable output
`;

const help = (title: string, examples: string, flags = '') => `provisio ${title}

Examples:
${examples}
${flags ? `\nFlags:\n${flags}` : ''}${CONNECTION}`;

export const SYSTEM_CREATE = help(
  'system create NAME: create a system (a product line)',
  '  provisio system create ZMonitor\n  provisio system create Lab --separation-of-duties off',
  '  --no-mock          refuse mock device files for this system\n  --separation-of-duties on|off   whether the person who uploaded a request is refused as its approver (default on)\n  --secret-approves on|off        whether a valid enrollment token or pairing code is itself the approval (default off: the approval policy decides)\n  --central-keys on|off           whether a pairing may have the service generate the device key (default off; needs --secret-approves on)\n',
);
export const SYSTEM_LIST = help('system list: list systems and their components', '  provisio system list --json');
export const SYSTEM_UPDATE = help(
  'system update NAME [--allow-mock|--no-mock] [--separation-of-duties on|off] [--secret-approves on|off] [--central-keys on|off]: change a system\'s settings (admin)',
  '  provisio system update ZMonitor --no-mock\n  provisio system update Lab --allow-mock\n  provisio system update Lab --separation-of-duties off\n  provisio system update ZMonitor --secret-approves on',
  '  --allow-mock       accept mock device files (pre-generated keys, for experiments)\n  --no-mock          refuse them\n  --separation-of-duties on|off   on: the person who uploaded a request may not approve it (another approver must); off: they may\n  --secret-approves on|off        on: a valid enrollment token or pairing code is the approval of the request it makes; off: the approval policy decides\n  --central-keys on|off           on: a pairing without a CSR gets a key the service made, sent once and never stored (audited); off (default): devices make their keys\nSetting what is already set changes nothing and writes no audit entry.\n',
);
export const SYSTEM_SHOW = help('system show NAME: a system and its component templates', '  provisio system show ZMonitor');
export const COMPONENT_CREATE = help(
  'component create --system S NAME: create a component (the certificate template of a kind of device)',
  '  provisio component create --system ZMonitor "bedside monitor"\n  provisio component create --system ZMonitor gateway --key-type p256,rsa3072 --validity-days 730',
  '  --system S          the system\n  --key-type LIST     allowed device key types: p256, p384, rsa3072 (default p256)\n  --validity-days N   device certificate lifetime, 1-825 (default 365)\n  --renewal-grace-days N   days after expiry a device may still renew, 0-90 (default 0: never)\n',
);
export const COMPONENT_UPDATE = help(
  'component update --system S NAME --renewal-grace-days N: change how long after expiry its devices may still renew',
  '  provisio component update --system ZMonitor "bedside monitor" --renewal-grace-days 7',
  '  --system S               the system\n  --renewal-grace-days N   0-90; 0: a certificate past its end of validity never renews\n',
);
export const PACKAGE_CREATE = help(
  'package create --system S --out FILE: create a provisioning package (holds a bootstrap key; written 0600)',
  '  provisio package create --system ZMonitor --out zmonitor.ppkg',
  '  --days N               package (bootstrap credential) lifetime, 1-365 (default 30)\n  --request-lifetime S   how long a request stays valid, in seconds (default 7 days)\n',
);
export const PACKAGE_LIST = help('package list: list provisioning packages', '  provisio package list --system ZMonitor');
export const PACKAGE_REVOKE = help(
  'package revoke ID [--reason R]: revoke a package and its bootstrap credential; its requests are refused from now on',
  '  provisio package revoke pkg_0123abcd\n  provisio package revoke pkg_0123abcd --reason keyCompromise   # the package file leaked',
  '  --reason R   an RFC 5280 reason (default unspecified): keyCompromise, affiliationChanged, superseded,\n               cessationOfOperation, privilegeWithdrawn, unspecified\n',
);
export const REQUEST_UPLOAD = help(
  'request upload FILE...: upload provisioning requests or request bundles (technician)',
  '  provisio request upload /media/usb/*.ppr\n  provisio request upload /media/usb/requests.pbdl',
  '  FILE.ppr    one request file\n  FILE.pbdl   a request bundle ("provisio request bundle"): checked whole first (a bad bundle\n              stores nothing), then one verdict per entry (accepted, already uploaded, or refused with\n              its code); a refused entry does not stop the others\nExit code: that of the first refusal, 0 when every file and entry was accepted.\n',
);
export const REQUEST_LIST = help(
  'request list: list provisioning requests, newest first',
  '  provisio request list --state pending --json',
  '  --state S          pending, approved or rejected\n  --system S, --component C, --q TEXT, --limit N, --offset N\n',
);
export const REQUEST_SHOW = help('request show ID: one provisioning request', '  provisio request show req_0123abcd');
export const REQUEST_APPROVE = help(
  'request approve ID [ID…]: approve, issuing the certificate and the certified profile',
  '  provisio request approve req_0123abcd\n  provisio request approve req_0123abcd req_4567cdef req_89abef01     # up to 500; one verdict each',
  '  With several IDs each is approved on its own: a refused one (already decided, expired) is\n  listed with its code and the others still pass; the exit code is the first refusal\'s.\n',
);
export const REQUEST_REJECT = help('request reject ID --reason TEXT: reject a request', '  provisio request reject req_0123abcd --reason "unknown serial"');
export const PROFILE_DOWNLOAD = help(
  'profile download ID --out FILE: download a certified profile (written 0600); --bundle OUT: many as one bundle',
  '  provisio profile download req_0123abcd --out DEV-001.pcp\n  provisio profile download --bundle /media/usb/profiles.pbdl --request-bundle /media/usb/requests.pbdl\n  provisio profile download --bundle profiles.pbdl req_0123abcd req_4567cdef',
  '  --out FILE              one profile\n  --bundle OUT            the profiles of the requests named by ID and/or --request-bundle, as one\n                          bundle signed by the service\'s profile signer (0600)\n  --request-bundle FILE   the request bundle you uploaded: its requests, found by their SHA-256\nRequests without a profile (pending, rejected, unknown) are listed with their code; the bundle\nholds the others, and the exit code is 7 when any is missing. Check the bundle with\n"provisio bundle verify", then "provisio bundle extract" it for the devices.\n',
);
export const DEVICE_COMPLETE = help('device complete DEVICE_ID: mark an installed device Provisioned ("Complete provisioning")', '  provisio device complete DEV-001');
export const DEVICE_LIST = help(
  'device list [--state S] [--system S [--component C]] [--transport T] [--q TEXT] [--needs-approval] | --expiring WINDOW | --overdue: devices and their health',
  '  provisio device list --needs-approval\n  provisio device list --state provisioned\n  provisio device list --expiring 30d\n  provisio device list --overdue --json',
  '  --state S, --system S, --component C, --transport upload|connected|proxy, --q TEXT\n' +
  '                     filter the device list (as on the Devices page), devices waiting for a decision first\n' +
  '                     (NEEDS APPROVAL: the kind and id of a pending request; LAST SEEN: the last check-in)\n' +
  '  --needs-approval   only devices with a pending request of any kind (provisioning, renewal, reprovisioning)\n' +
  '  --expiring WINDOW  device certificates that expire within WINDOW (30d, 12h), soonest first\n' +
  '  --overdue          devices overdue for renewal: their certificate is past two thirds of its lifetime\n' +
  '  --limit N, --offset N\n',
);
export const DEVICE_GET = help('device get DEVICE_ID: a device, its state and every certificate it had', '  provisio device get DEV-001 --json');
export const DEVICE_REVOKE = help(
  'device revoke DEVICE_ID --reason R [--yes]: revoke a device\'s certificates and disable it (admin, approver)',
  '  provisio device revoke DEV-001 --reason keyCompromise --yes\n  provisio device revoke DEV-001 --reason cessationOfOperation     # asks you to type DEV-001',
  '  --reason R   an RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, affiliationChanged,\n               privilegeWithdrawn, unspecified (cACompromise and aACompromise do not apply to a\n               device; certificateHold is not supported: revocation is final)\n  --yes        do not ask for the device id (needed when there is no terminal)\nThe CRL is published again at once and OCSP answers "revoked" from now on. A revoked device may\nmake a new key and a new request; it waits for an approver whatever the approval policy says.\nRevoking a revoked device changes nothing.\n',
);
export const DEVICE_REQUEST_REPROVISION = help(
  'device request-reprovision DEVICE_ID --reason R | --cancel: ask a provisioned device for a fresh profile (admin, approver)',
  '  provisio device request-reprovision DEV-001 --reason "INC-4711: profile config changed"\n  provisio device request-reprovision DEV-001 --cancel',
  '  --reason R   why (1-500 characters; recorded with your name in the device and the audit log)\n  --cancel     withdraw the outstanding ask\n' +
  'The device learns it at its next check-in at the central station ("provisio device run --station")\n' +
  'and reprovisions at once: its request counts as approved by you. The ask stays until the device\n' +
  'confirms the fresh profile, or it is cancelled. Asking again while one is outstanding changes nothing.\n',
);
export const CRL_FETCH = help(
  'crl fetch --out FILE [--pem]: download the issuing CA\'s current CRL (DER, or PEM with --pem)',
  '  provisio crl fetch --out issuing.crl\n  provisio crl fetch --out issuing.pem --pem && openssl verify -crl_check -CRLfile issuing.pem -CAfile root.crt -untrusted intermediate.crt device.crt',
  '  --out FILE   where to write it (0644: a CRL is public)\n  --pem        PEM ("X509 CRL") instead of DER\n',
);
const AUDIT_FILTER_FLAGS = '  --actor A, --action A, --target ID\n  --since T, --until T   a time window (ISO 8601, e.g. 2026-11-23T08:00:00Z): from T inclusive, before T\n';
export const AUDIT_LIST = help(
  'audit list: audit entries, newest first',
  '  provisio audit list --action request.approve --limit 20\n  provisio audit list --since 2026-11-23T00:00:00Z --until 2026-11-24T00:00:00Z',
  `${AUDIT_FILTER_FLAGS}  --limit N, --offset N\n`,
);
export const AUDIT_EXPORT = help(
  'audit export --out FILE: every audit entry matching the filters as JSON Lines (newest first)',
  '  provisio audit export --out audit.jsonl\n  provisio audit export --actor alice --since 2026-11-01T00:00:00Z --out alice.jsonl\n' +
  '  provisio audit export --limit 100000 --out audit.jsonl --checkpoints checkpoints.jsonl   # for audit verify --export',
  `${AUDIT_FILTER_FLAGS}  --limit N    at most N entries (default 10,000)\n  --out FILE   a new file (0600); an existing one is never overwritten\n` +
  '  --checkpoints FILE  also the service\'s checkpoint file (signed checkpoints, JSON Lines, 0600)\n',
);
export const AUDIT_VERIFY = `provisio audit verify: check the audit hash chain, its end and its signed checkpoints

Examples:
  provisio audit verify                      # through the API (admin or auditor token)
  provisio audit verify --data ./data        # offline: the SQLite database, CA and checkpoint file in ./data
  provisio audit verify --db postgres://127.0.0.1/provisio --ca ./data/ca --checkpoints ./data/audit-checkpoints.jsonl
  provisio audit verify --export audit.jsonl --checkpoints checkpoints.jsonl --ca ./data/ca

  --data DIR           offline, against DIR/provisio.db, DIR/ca and DIR/audit-checkpoints.jsonl
  --db URL             offline, against this database (SQLite file or postgres:// URL)
  --export FILE        offline, against an export ("audit export --out FILE --checkpoints FILE")
  --checkpoints FILE   the checkpoint file: signed checkpoints the database cannot take back
  --ca DIR             root.crt and intermediate.crt: checkpoints must be signed by their profile signer

The chain must be unbroken, end where audit_head says (not with --export: an export has no
head), reach every signed checkpoint with the hash it signed, and every checkpoint in the file
must still be in the database. Prints OK, or the first problem (edited, deleted, inserted,
reordered, truncated, head_mismatch, checkpoint_mismatch, checkpoint_missing,
checkpoint_differs, checkpoint_signature_invalid, checkpoint_file_invalid) and exits 4.
${CONNECTION}`;
export const USER_CREATE = help(
  'user create NAME --role ROLE --token-out FILE: create a user and write its API token (0600)',
  '  provisio user create alice --role approver --token-out alice.token',
  '  --role R        admin, approver, technician or auditor\n  --token-out F   where to write the new token (shown nowhere else)\n',
);
export const POLICY_SET = help(
  'policy set --system S [--component C] --mode manual|automatic [rules]: set the approval policy (admin)',
  '  provisio policy set --system ZMonitor --mode automatic --device-id-pattern "^ZM-[0-9]{6}$" --transports upload,connected --max-per-hour 100\n  provisio policy set --system ZMonitor --component gateway --mode manual',
  '  --system S, --component C     the scope: a component\'s policy overrides its system\'s\n  --mode M                      manual (the default) or automatic: approve when every rule set passes\n  --device-id-pattern RE        an anchored regular expression (^…$, at most 200 characters)\n  --serials S1,S2               hardware serials allowed\n  --transports T1,T2            upload, connected, proxy\n  --max-per-hour N              at most N automatic approvals in this scope per hour\n  --packages ID1,ID2            provisioning packages allowed\nSetting a policy replaces the one of the same scope.\n',
);
export const PROTOCOL_ENABLE = help(
  'protocol enable est|cmp|scep --system S [--component C]: accept a standard enrollment protocol there (admin)',
  '  provisio protocol enable est --system ZMonitor --component "bedside monitor"\n  provisio protocol enable cmp --system ZMonitor',
  '  --system S       on the system: all its components accept the protocol\n  --component C    on one component only\nEST, CMP and SCEP are off by default (docs/protocols.md). Enabling twice changes nothing.\n',
);
export const PROTOCOL_DISABLE = help(
  'protocol disable est|cmp|scep --system S [--component C]: stop accepting a protocol there (admin)',
  '  provisio protocol disable est --system ZMonitor --component "bedside monitor"',
  '  A switch on the system and one on a component are separate: disable the one that was enabled.\n',
);
export const PROTOCOL_SHOW = help('protocol show [--system S]: the enrollment protocols enabled, per system or component', '  provisio protocol show\n  provisio protocol show --system ZMonitor --json');
export const POLICY_SHOW = help('policy show --system S [--component C]: the approval policy in effect there', '  provisio policy show --system ZMonitor --component gateway --json');
export const SERVE = `provisio serve: run the provisioning service (HTTPS REST API)

Examples:
  provisio serve                                   # ./data, https://127.0.0.1:8443, SQLite, development CA
  provisio serve --data /var/lib/provisio --ca /etc/provisio/ca --host 0.0.0.0 --public-url https://pki.example
  provisio serve --publish-listen 0.0.0.0:80 --publish-url http://pki.example --station-listen 0.0.0.0:9443
  provisio serve --ca /etc/provisio/ca --ca-pkcs11 'pkcs11:token=CA;object=issuing-ca' --pin-file /etc/provisio/pin
  PROVISIO_DB=postgres://postgres@127.0.0.1:5432/provisio provisio serve

Flags:
  --data DIR         data directory (default ./data): database, CA files, admin.token
  --port N           default 8443; with --port and no --publish-listen there is no
                     publication listener (0: free ports for every listener)
  --host H           default 127.0.0.1
  --db URL           SQLite file or postgres:// URL (also PROVISIO_DB; default DATA/provisio.db)
  --ca DIR           use the issuing CA made by the ceremony (intermediate.crt, intermediate.key,
                     root.crt) instead of a development CA; PROVISIO_CA_PASSPHRASE if encrypted
  --ca-pkcs11 URI    the issuing CA key in a PKCS#11 token (HSM), e.g.
                     'pkcs11:token=CA;object=issuing-ca'; --ca DIR then needs no intermediate.key.
                     The OCSP responder and profile signer keys are made in the same token, as
                     OBJECT.ocsp-responder and OBJECT.profile-signer (docs/service.md)
  --pin-file FILE    the token PIN (one line; the file must be mode 0600)  [with --ca-pkcs11]
  --pkcs11-module P  the PKCS#11 library (default: SoftHSM2's, /usr/lib/softhsm/libsofthsm2.so)
  --public-url URL   the URL devices use, when it differs from https://HOST:PORT
  --crl-interval D   publish a fresh CRL at least this often (default 1h; 1m to 7d, e.g. 30m, 6h);
                     every revocation publishes one at once
  --max-in-flight N  expensive calls (uploads, approvals, device submit/confirm) run at once
                     (default 64; PROVISIO_MAX_IN_FLIGHT)
  --max-queued N     more of them wait in FIFO order (default 256; beyond: 503 + Retry-After;
                     PROVISIO_MAX_QUEUED)
  --rate-per-client N  calls per second per client: API token, or IP address on the device
                     routes (default 50; 0 turns it off; beyond: 429 + Retry-After;
                     PROVISIO_RATE_PER_CLIENT)
  --rate-burst N     calls a client may make at once before the rate applies (default 100;
                     PROVISIO_RATE_BURST)
  --max-held-polls N device long-polls held at once (default 1024; beyond, answered at once;
                     PROVISIO_MAX_HELD_POLLS)
  --publish-listen HOST:PORT|off
                     plain-HTTP listener for /ca/root.crt, /ca/intermediate.crt, the CRL and OCSP
                     (default HOST:8080 when --port is not given); new certificates name its
                     URLs. off: none (URLs https)
  --publish-url URL  the publication URL written into certificates, when it differs from
                     http://HOST:PORT (behind a proxy or a DNS name)
  --station-listen HOST:PORT
                     also run the central station: devices check in over mutual TLS
                     (docs/station.md); default: no station
  --station-cut-off D  how long the station reuses a revocation status (default 60s; 1s to 1h):
                     a revoked device is refused within this time
  --expiry-window D  certificates expiring within D get a certificate.expiring audit entry,
                     once each (default 30d)
  --audit-checkpoints FILE
                     the append-only copy of every signed audit checkpoint, outside the
                     database (default DATA/audit-checkpoints.jsonl, 0600; docs/audit.md)
  --audit-checkpoint-interval D
                     sign a checkpoint this often when the log grew (default 1m; 10s to 1h)

It binds every listener first: a port in use exits 7 (port_in_use) naming the port and the
flag to pass, before anything is created. On first start it then creates a development CA
(unless --ca), an admin user and DATA/admin.token. A CA or service key file readable by group or
others is refused (exit 5, key_file_exposed: chmod 600 it).
`;
export const MOCK_DEVICE = help(
  'mock-device --system S --component C --count N --out DIR: make mock device files for experiments',
  '  provisio mock-device --system ZMonitor --component "bedside monitor" --count 5 --out mock',
  '  --count N   1-100 (default 1)\n  --out DIR   a new directory: DIR/ID/device.key (0600), certificate.pem, profile.pcp\nMock keys are generated by the service: they are not device-locked, and systems created with\n--no-mock refuse them.\n',
);
export const GATEWAY_CREATE = help(
  'gateway create NAME --host H [--host H2] --dir DIR: register a proxy gateway (admin); its key stays in DIR',
  '  provisio gateway create ward-3 --host gw-ward3.hospital.example --host 10.3.0.2 --dir /etc/provisio-gateway',
  '  --host H    a DNS name or IPv4 address devices reach the gateway by (repeat; 1-16)\n  --dir DIR   where to write gateway.key (0600, made here, never sent), gateway.crt, chain.pem, root.crt\nThe service certifies the key for TLS server (to devices) and client (to the service) use.\n',
);
export const GATEWAY_LIST = help('gateway list: list proxy gateways', '  provisio gateway list --json');
export const GATEWAY_REVOKE = help(
  'gateway revoke NAME [--reason R]: revoke a gateway and its certificate; the service, OCSP and the CRL refuse it from now on',
  '  provisio gateway revoke ward-3\n  provisio gateway revoke ward-3 --reason keyCompromise',
  '  --reason R   an RFC 5280 reason (default cessationOfOperation; keyCompromise when its key leaked)\n',
);
export const PROXY_RUN = `provisio proxy run --upstream URL --listen HOST:PORT --dir DIR: run a proxy gateway

Examples:
  provisio proxy run --upstream https://pki.hospital.example:8443 --listen 0.0.0.0:8444 --dir /etc/provisio-gateway

Flags:
  --upstream URL      the provisioning service
  --listen HOST:PORT  where devices reach the gateway (their service URL is https://HOST:PORT)
  --dir DIR           the directory "provisio gateway create" wrote; the queue lives in DIR/queue

Devices that cannot reach the service use the gateway with the same SDK ("provisio device provision
--url https://HOST:PORT"). The gateway keeps their requests on disk, forwards them in batches when
the service is reachable, and hands back the profiles exactly as the service signed them. It runs
in the foreground, prints what it does on stderr, and stops cleanly on Ctrl-C or SIGTERM.
`;

export const TOKEN_CREATE = help(
  'token create --system S --component C --id DEVICE-ID|--pattern REGEX [--uses N] [--expires 24h] [--out FILE]: a one-time enrollment token (admin), shown once',
  '  provisio token create --system ZMonitor --component "bedside monitor" --id ZM-0042 > zm-0042.token\n  provisio token create --system ZMonitor --component "bedside monitor" --pattern \'^ZM-1[0-9]{3}$\' --uses 20 --expires 8h',
  '  --id ID          bind the token to this device id\n  --pattern REGEX  or to device ids matching this anchored (^...$) regular expression\n  --uses N         enrollments it allows (default 1)\n  --expires D      how long it is valid: 90s, 30m, 24h, 7d (default 24h, at most 30d)\n  --out FILE       write the token to FILE (mode 0600) instead of stdout\nThe token (pvt_<id>_<secret>) is printed once; the service keeps only the SHA-256 of its secret.\n',
);
export const TOKEN_LIST = help('token list [--system S]: enrollment tokens and their state (active, used, expired, revoked), never their secrets', '  provisio token list --system ZMonitor');
export const TOKEN_REVOKE = help('token revoke ID: revoke an enrollment token; it enrolls nothing from now on', '  provisio token revoke 3f2a9c01d4e5b6a7');

export const PAIRING_CREATE = help(
  'pairing create --system S --component C --id DEVICE-ID --label TEXT [--expires 72h]: pre-register a device with a pairing code (admin), shown once',
  '  provisio pairing create --system ZMonitor --component "bedside monitor" --id DEV-001 --label "Bed 12"\n  provisio pairing create --system ZMonitor --component "bedside monitor" --id DEV-002 --label "Bed 14" --expires 8h',
  '  --id ID        the device id the code is bound to\n  --label TEXT   the deviceLabel its certificate will carry\n  --expires D    how long the code is valid: 90s, 30m, 72h, 7d (default 72h, at most 30d)\nThe code (like K7QM-2XWD: 40 random bits, no look-alike characters) is printed once; the service\nkeeps a scrypt hash. It pairs once; 5 wrong codes lock the pairing until "provisio pairing reset".\n',
);
export const PAIRING_LIST = help('pairing list [--system S]: pre-registered devices and the state of their codes (active, used, expired, revoked, locked)', '  provisio pairing list --system ZMonitor');
export const PAIRING_REVOKE = help('pairing revoke --id DEVICE-ID: revoke a device\'s pairing code; it pairs nothing from now on', '  provisio pairing revoke --id DEV-001');
export const PAIRING_RESET = help('pairing reset --id DEVICE-ID: clear the wrong codes counted for a device and its lock', '  provisio pairing reset --id DEV-001');
