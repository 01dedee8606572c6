/** Help texts. Each leads with examples (clig.dev: people read examples first). */

export const TOP_HELP = `provisio: device provisioning with an offline root CA, an online issuing CA, CRL and OCSP

Examples:
  # run the service, then use it from another shell
  provisio serve --data ./data
  export PROVISIO_URL=https://127.0.0.1:8443 PROVISIO_CA_FILE=data/ca/root.crt PROVISIO_TOKEN=$(cat data/admin.token)
  provisio request list --state pending

  # the offline root ceremony (see docs/ceremony.md)
  provisio ca init-root --out /media/root --name "Hospital Root CA"
  provisio ca new-intermediate --out ./ca
  provisio ca sign-intermediate --root /media/root --csr intermediate.csr --out intermediate.crt

  # on a device (offline): make a provisioning request, later install the certified profile
  provisio device init --package zmonitor.ppkg --component "bedside monitor" --id DEV-001 \\
    --label "Bed 12" --dir /var/lib/provisio --out /media/usb/DEV-001.ppr
  provisio device install --dir /var/lib/provisio /media/usb/DEV-001.pcp

  # what is this file, and does it chain to my root?
  provisio inspect device.crt --ca root.crt
  openssl x509 -in device.crt | provisio inspect - --json

Commands:
  serve                 run the provisioning service (HTTPS API; SQLite or PostgreSQL)
  system create|list|show|update systems (product lines); update: mock files, separation of duties
  component create|update        components: the certificate template of a kind of device
  package create|list|revoke     provisioning packages (bootstrap configuration, 0600)
  request upload|list|show|approve|reject   provisioning requests
  request bundle                 many request files as one signed bundle (offline)
  profile download               certified profiles of approved requests (--bundle: many as one)
  bundle verify|extract          check a bundle's signature and hashes; write its entries out
  device complete|get            mark a device Provisioned; show a device and its certificates
  device list                    devices and last seen; --expiring 30d, --overdue: expiry health
  device revoke                  revoke a device's certificates with an RFC 5280 reason; disable it
  device request-reprovision     ask a provisioned device for a fresh profile (--cancel: withdraw)
  crl fetch                      download the current CRL (DER or PEM)
  mock-device                    mock device files for experiments (not device-locked)
  audit list|export|verify       the hash-chained audit log (verify offline: --data DIR, --export FILE)
  user create                    users with a role and an API token
  policy set|show                approval policies: manual, or automatic when rules match
  protocol enable|disable|show   standard enrollment protocols (EST, CMP, SCEP) per system or component
  gateway create|list|revoke     proxy gateways for devices that cannot reach the service
  token create|list|revoke       one-time enrollment tokens (a device enrolls with token + CSR)
  pairing create|list|revoke|reset   pairing codes: pre-registered devices pair with id + code
  proxy run                      run a proxy gateway (queues while the service is down)
  ca init-root          create the root CA key (encrypted) and self-signed certificate
  ca new-intermediate   create the issuing CA key (in a file or an HSM) and its certificate request
  ca show-key           show a key in a PKCS#11 token (HSM) and whether it can leave the token
  ca sign-intermediate  sign an issuing CA request with the root (on the offline machine)
  ca root-crl           sign the root's CRL, revoking an intermediate (on the offline machine)
  device init           on a device: make its key and a provisioning request
  device install        on a device: verify and install a certified profile
  device enroll         on a device: enroll with a one-time token (key made here, CSR, mutual TLS)
  device pair           on a device: pair with its id and pairing code (seed 003 workflow)
  device show           on a device: show identity, state and keystore files
  device check-in       on a device: check in at the central station (mutual TLS)
  device audit          on a device: list or verify its own security audit log
  device db-key         on a device: print the key of its encrypted database (a secret)
  device provision      on a connected device: init, submit, wait for approval, install
  device run            on a connected device: the long-running agent (resumes at any step; renews)
  device renew          on a connected device: renew its certificate now (--rekey: with a new key)
  device reprovision    on a connected device: a fresh profile, through the approval policy
  simulate              provision N simulated connected devices (load and smoke test)
  inspect               summarize a certificate, CSR, CRL or OCSP response and verify it
  help [COMMAND]        show help for a command

Flags:
  --help, -h            show help
  --version             print the version

Environment:
  PROVISIO_URL, PROVISIO_TOKEN, PROVISIO_CA_FILE   the service, an API token, the root to trust
  PROVISIO_DB               database URL for serve (SQLite path or postgres://)
  PROVISIO_ROOT_PASSPHRASE  passphrase of the root key (otherwise asked on the terminal)
  PROVISIO_CA_PASSPHRASE    passphrase of the issuing CA key (optional)
  NO_COLOR                  no colour in output when set to anything
  PROVISIO_DEBUG=1          print stack traces of unexpected errors

Exit codes: 0 ok, 1 internal, 2 usage, 3 invalid, 4 unauthorized, 5 forbidden, 6 not found,
7 conflict, 8 unavailable, 130 interrupted. Scripts should read --json; text output may change.
Documentation: docs/cli.md, docs/ceremony.md, docs/device.md
`;

export const CA_HELP = `provisio ca: the certificate authority ceremony

Examples:
  # on the offline machine, once
  provisio ca init-root --out /media/root --name "Hospital Root CA" --years 20
  # on the CA server
  provisio ca new-intermediate --out ./ca --name "Hospital Issuing CA 2026"
  # back on the offline machine, with intermediate.csr carried over on the USB stick
  provisio ca sign-intermediate --root /media/root --csr intermediate.csr --out intermediate.crt

Commands:
  init-root          create the root CA key (encrypted) and self-signed certificate
  new-intermediate   create the issuing CA key and its certificate request
  sign-intermediate  sign an issuing CA request with the root
  root-crl           sign the root's CRL (also to revoke an intermediate)
  show-key           show a key in a PKCS#11 token and whether it can leave the token

Run "provisio ca COMMAND --help" for the flags of a command. See docs/ceremony.md.
`;

export const INIT_ROOT_HELP = `provisio ca init-root: create the root CA key and self-signed certificate

Examples:
  PROVISIO_ROOT_PASSPHRASE=... provisio ca init-root --out /media/root --name "Hospital Root CA"
  provisio ca init-root --out ./root --key-type p384 --years 25 --json

Writes DIR/root.crt (PEM, 0644) and DIR/root.key (PKCS#8, encrypted with the passphrase, 0600).
The passphrase comes from PROVISIO_ROOT_PASSPHRASE or is asked twice on the terminal; an
unencrypted root key is never written. Existing files are never overwritten.

Flags:
  --out DIR          directory for root.crt and root.key (created 0700 if missing)  [required]
  --name NAME        subject common name (default "Provisio Root CA")
  --key-type TYPE    p256 (default), p384 or rsa3072
  --years N          validity in years, 1 to 40 (default 20)
  --json             print the result as JSON
`;

export const NEW_INTERMEDIATE_HELP = `provisio ca new-intermediate: create the issuing CA key and its certificate request

Examples:
  provisio ca new-intermediate --out ./ca
  PROVISIO_CA_PASSPHRASE=... provisio ca new-intermediate --out ./ca --name "Hospital Issuing CA 2026"

Writes DIR/intermediate.key (PKCS#8, 0600; encrypted when PROVISIO_CA_PASSPHRASE is set) and
DIR/intermediate.csr (PEM, 0644). Carry only intermediate.csr to the offline root machine.

With --pkcs11 the key pair is generated inside a PKCS#11 token (an HSM), sensitive and never
extractable, under the URI's object label; only intermediate.csr is written:
  provisio ca new-intermediate --out ./ca --pkcs11 'pkcs11:token=CA;object=issuing-ca' --pin-file pin

Flags:
  --out DIR          directory for intermediate.key and intermediate.csr  [required]
  --name NAME        subject common name (default "Provisio Issuing CA")
  --key-type TYPE    p256 (default), p384 or rsa3072
  --pkcs11 URI       make the key in this token under this label (RFC 7512 URI: token=, object=)
  --pin-file FILE    the token PIN, one line, mode 0600  [with --pkcs11]
  --pkcs11-module P  the PKCS#11 library (default: SoftHSM2's, /usr/lib/softhsm/libsofthsm2.so)
  --json             print the result as JSON
`;

export const SHOW_KEY_HELP = `provisio ca show-key: show a key in a PKCS#11 token and whether it can leave the token

Examples:
  provisio ca show-key --pkcs11 'pkcs11:token=CA;object=issuing-ca' --pin-file pin

Prints the key's algorithm, public-key SHA-256 (compare with the certificate) and its custody
as the token reports it (CKA_SENSITIVE, CKA_EXTRACTABLE). Warns when the key can be exported.

Flags:
  --pkcs11 URI       the key (RFC 7512 URI: token=, object=, optionally id=)  [required]
  --pin-file FILE    the token PIN, one line, mode 0600  [required]
  --pkcs11-module P  the PKCS#11 library (default: SoftHSM2's)
  --json             print the result as JSON
`;

export const SIGN_INTERMEDIATE_HELP = `provisio ca sign-intermediate: sign an issuing CA request with the root key

Examples:
  provisio ca sign-intermediate --root /media/root --csr intermediate.csr --out intermediate.crt
  provisio ca sign-intermediate --root /media/root --csr intermediate.csr --out intermediate.crt \\
    --chain chain.pem --days 1095

Reads DIR/root.crt and DIR/root.key (passphrase from PROVISIO_ROOT_PASSPHRASE or the terminal),
checks the request's signature (proof of possession) and shows what will be signed. The subject
is copied from the request (CN, O, OU, C only); nothing else in the request is used. The
certificate is recorded in DIR/issued/SERIAL.crt before it is written to --out.

It also signs a fresh root CRL (the next number, listing every intermediate the root revoked)
and writes it to --root-crl: put it in the online CA directory as root.crl, where the service
publishes it at /crl/root.crl. --crl-url is written into the intermediate as its CRL
distribution point: the service's publication URL followed by /crl/root.crl.

Flags:
  --root DIR         directory holding root.crt and root.key  [required]
  --csr FILE         the intermediate's certificate request (PEM or DER)  [required]
  --out FILE         where to write the intermediate certificate (PEM)  [required]
  --chain FILE       also write intermediate + root as one PEM bundle
  --crl-url URL      the root CRL's URL, e.g. http://ca.example:8080/crl/root.crl (default: none)
  --root-crl FILE    where to write the root CRL (PEM; default root.crl beside --out)
  --next-update Nd   the root CRL's next update, 1d to 3650d (default 365d); never past the root's end
  --days N           validity in days, 1 to 7300 (default 1825); never past the root's end
  --path-len N       CA certificates allowed below the intermediate (default 0: it issues leaves only)
  --json             print the result as JSON
`;

export const ROOT_CRL_HELP = `provisio ca root-crl: sign the root's CRL, the list of intermediates it revoked

Examples:
  provisio ca root-crl --root /media/root --out /media/transfer/root.crl
  provisio ca root-crl --root /media/root --out /media/transfer/root.crl \\
    --revoke 5f3a9c0e12d4b7a8 --reason cACompromise

Reads DIR/root.crt and DIR/root.key (passphrase from PROVISIO_ROOT_PASSPHRASE or the terminal)
and signs the next root CRL: its number is one more than the last one this root signed, kept in
DIR/root-crl.json with the list, which is updated before the CRL is written. --revoke adds a
certificate the root signed (its serial, or the certificate file; it must be recorded in
DIR/issued/); a serial listed already keeps its first time and reason. Re-sign before the next
update: relying parties that check the whole chain refuse every device once it has passed.

Flags:
  --root DIR         directory holding root.crt and root.key  [required]
  --out FILE         where to write the root CRL (PEM)  [required]
  --revoke SERIAL|FILE  an intermediate to list as revoked (needs --reason)
  --reason REASON    cACompromise, keyCompromise, superseded, cessationOfOperation,
                     affiliationChanged, privilegeWithdrawn, certificateHold or unspecified
  --next-update Nd   next update, 1d to 3650d (default 365d); never past the root's end
  --json             print the result as JSON
`;

export const INSPECT_HELP = `provisio inspect: summarize a certificate, CSR, CRL or OCSP response, and verify it

Examples:
  provisio inspect intermediate.crt --ca root.crt
  provisio inspect device.csr
  provisio inspect crl.der --ca intermediate.crt
  curl -s http://ca.example/ocsp/... | provisio inspect - --ca intermediate.crt --json

Reads PEM or DER from FILE, or from stdin with "-". Always ends with a verification line:
  certificate  chain: VERIFIED against <root> | NOT VERIFIED (...)   (--ca: root + intermediates)
  CSR          signature: VERIFIED (proof of possession) | NOT VERIFIED: ...
  CRL, OCSP    signature: VERIFIED by <issuer> | NOT VERIFIED (...)   (--ca: the issuer)
A failed verification exits non-zero (4 for untrusted or bad signatures, 3 for a bad CSR).

Flags:
  --ca FILE          PEM bundle to verify against (root and any intermediates; for CRL and OCSP
                     the issuing CA certificate)
  --json             print a JSON object (fields in docs/cli.md)
`;

export const DEVICE_HELP = `provisio device: the device side of provisioning (runs on the device, offline)

Examples:
  # on the device, with the provisioning package on a USB stick
  provisio device init --package /media/usb/zmonitor.ppkg --component "bedside monitor" \\
    --id DEV-001 --label "Bed 12" --dir /var/lib/provisio --out /media/usb/DEV-001.ppr
  # back on the device, with the certified profile from the service
  provisio device install --dir /var/lib/provisio /media/usb/DEV-001.pcp
  provisio device show --dir /var/lib/provisio

Commands:
  init      generate the device key and a provisioning request from a package
  install   verify and install a certified profile
  show      show this device's identity, state and keystore files
  audit     list or verify the device's own hash-chained security audit log
  db-key    print the SQLCipher key of the device database (derived from device.key; a secret)
  provision connected delivery: init, submit over HTTPS, wait for approval, install, confirm
  complete  (service side) mark an installed device Provisioned: "Complete provisioning" (disconnected)
  get       (service side) a device's state and every certificate it had
  revoke    (service side) revoke a device's certificates with an RFC 5280 reason and disable it

Run "provisio device COMMAND --help" for the flags of a command. See docs/device.md.
`;

export const DEVICE_INIT_HELP = `provisio device init: generate the device key and a provisioning request

Examples:
  provisio device init --package zmonitor.ppkg --component "bedside monitor" --id DEV-001 \\
    --label "Bed 12" --dir /var/lib/provisio --out /media/usb/DEV-001.ppr
  provisio device init --package zmonitor.ppkg --component gateway --id GW-7 --label "Ward 3" \\
    --dir ./keystore --serial SN-0042 --firmware 2.4.1 --key-type p384 --json

Works offline. Checks the package (its bootstrap certificate chains to its root and is valid
now), generates the key on this device, and writes the keystore (created 0700):
  device.key    the private key (PKCS#8, 0600); it never leaves this device
  root.crt      the package's root of trust: install verifies profiles against it only
  request.ppr   the provisioning request, signed by the device key and the package
  identity.json the device's identity and state
The package's bootstrap key is used in memory and never written. Delete the package file from
the device afterwards. An existing identity in --dir is never replaced unless --reset is given.

Flags:
  --package FILE     the provisioning package  [required]
  --component NAME   the component of the package's system this device is  [required]
  --id ID            deviceId: 1-64 of A-Z a-z 0-9 . _ : -  [required]
  --label TEXT       deviceLabel, for people (e.g. "Bed 12")  [required]
  --dir DIR          the keystore directory  [required]
  --out FILE         also write the request to FILE (e.g. on the USB stick); never overwrites
  --serial S         hardware serial number (printable ASCII)
  --firmware V       firmware version (printable ASCII)
  --key-type TYPE    p256, p384 or rsa3072 (default: the package template's, if allowed)
  --reset            destroy the identity already in --dir (its key is deleted; revoke its
                     certificate on the server) and make a new one
  --json             print the result as JSON
`;

export const DEVICE_INSTALL_HELP = `provisio device install: verify and install a certified profile

Examples:
  provisio device install --dir /var/lib/provisio /media/usb/DEV-001.pcp
  provisio device install --dir ./keystore DEV-001.pcp --json

Works offline. The profile must be signed by the service under the root copied from the package
at init (DIR/root.crt; a root inside the profile is never trusted), name this device's id, be
bound to this device's key, and hold a certificate valid now. Then DIR/certificate.pem (device
certificate + issuing CA), DIR/profile.pcp and DIR/install.json are written (0600). A refused
profile writes nothing. Installing the same profile again changes nothing; a newer profile for
the same key replaces the installed one.

Flags:
  --dir DIR          the keystore directory  [required]
  --json             print the result as JSON
`;

export const DEVICE_ENROLL_HELP = `provisio device enroll: enroll a device with a one-time enrollment token (no package)

Examples:
  provisio device enroll --url https://pki.hospital.example:8443 --ca root.crt \\
    --token-file zm-0042.token --id ZM-0042 --dir /var/lib/provisio
  provisio device enroll --url https://127.0.0.1:8443 --ca root.crt --token-file t --id ZM-0042 \\
    --label "Bed 12" --key rsa3072 --dir ./keystore --station https://station.local:8445

Makes the key on this device (P-256 by default) and a CSR, sends the CSR with the token (from
"provisio token create") over HTTPS trusting only --ca, and verifies the certified profile it
gets back against --ca before writing anything; then writes the keystore (files 0600) and proves
the install over mutual TLS, on which the service marks the device Provisioned. A refused token
or answer writes nothing. While an approver decides (the system does not take the token as the
approval), the key waits in memory up to --wait.

Flags:
  --url URL          the service  [required]
  --ca FILE          the root certificate to trust (PEM)  [required]
  --token-file FILE  the enrollment token (pvt_...)  [required]
  --id ID            deviceId the token is bound to  [required]
  --dir DIR          the keystore directory (new or empty)  [required]
  --label TEXT       deviceLabel for the certificate (default: the device id)
  --key TYPE         p256, p384 or rsa3072 (default p256; --key-type is the same)
  --wait SECONDS     how long to wait for an approver (default 900)
  --station URL      then check in at the central station with the new certificate
  --json             print the result as JSON
`;

export const DEVICE_PAIR_HELP = `provisio device pair: pair a device with its pairing code (seed 003 workflow)

Examples:
  provisio device pair --url https://pki.hospital.example:8443 --ca root.crt --id DEV-001 \\
    --code K7QM-2XWD --dir /var/lib/provisio --station https://station.hospital.example:9443
  provisio device pair --url https://127.0.0.1:8443 --ca root.crt --id DEV-002 --code ABCD-2345 \\
    --dir ./keystore --key rsa3072 --hmac

Asks the service, with the device id and code, what the device is (system, component, label);
makes the key here (P-256 by default) and a CSR with the seed's profile (CN = id, OU = system,
SAN = id and label, key usage, EKU clientAuth); sends it with the code; verifies the signed
provisioning payload (signature, validity window, device id) and the certified profile against
--ca BEFORE writing anything; then writes the keystore (files 0600) and config.json (atomically),
proves the install over mutual TLS, and with --station checks in at the central station.

Flags:
  --url URL       the service  [required]
  --ca FILE       the root certificate to trust (PEM)  [required]
  --id ID         this device's id, as registered  [required]
  --code CODE     the pairing code (ABCD-2345; case and dash do not matter)  [required]
  --dir DIR       the keystore directory (new or empty)  [required]
  --key TYPE      p256, p384 or rsa3072 (default p256; --key-type is the same)
  --hmac          ask for the HMAC form of the payload signature (a key derived from the code)
  --wait SECONDS  how long to wait for an approver (default 900)
  --station URL   then check in at the central station with the new certificate
  --json          print the result as JSON
`;

export const DEVICE_PROVISION_HELP = `provisio device provision: provision a connected device (init, submit, wait, install)

Examples:
  provisio device provision --package zmonitor.ppkg --component "bedside monitor" --id DEV-001 \\
    --label "Bed 12" --dir /var/lib/provisio
  provisio device provision --package zmonitor.ppkg --component gateway --id GW-7 --label "Ward 3" \\
    --dir ./keystore --url https://provisio.example:8443 --wait 3600

Connected delivery: the device talks to the service itself. Makes the key and the request as
"device init" does (only when --dir holds no identity yet), submits the request over HTTPS
trusting only the package's root of trust (DIR/root.crt), waits for an approver, then verifies
and installs the certified profile as "device install" does, then proves the install with a
mutual-TLS call using the new certificate, on which the service marks the device Provisioned (no
"device complete" needed). Safe to run again after an interruption: the same request is
resubmitted (the service returns the same request id), an installed device only repeats the
confirmation if it was not confirmed yet, and a confirmed one changes nothing.

Flags:
  --package FILE     the provisioning package  [required]
  --component NAME   the component of the package's system this device is  [required]
  --id ID            deviceId: 1-64 of A-Z a-z 0-9 . _ : -  [required]
  --label TEXT       deviceLabel, for people (e.g. "Bed 12")  [required]
  --dir DIR          the keystore directory  [required]
  --url URL          the service (default: the package's serviceUrl)
  --wait SECONDS     give up after this long without approval (default 900; 1-604800)
  --serial S         hardware serial number (printable ASCII)
  --firmware V       firmware version (printable ASCII)
  --key-type TYPE    p256, p384 or rsa3072 (default: the package template's, if allowed)
  --station URL      then check in at the central station with the new certificate (tests the
                     connection; a refusal fails the command, the device stays provisioned)
  --json             print the result as JSON
`;

export const DEVICE_RUN_HELP = `provisio device run: the long-running device agent (connected delivery)

Examples:
  provisio device run --dir /var/lib/provisio
  provisio device run --dir ./keystore --url https://provisio.example:8443

Takes the keystore made by "device init" from whatever step it is at and carries on: submits the
request, waits for approval (long-poll), verifies and installs the certified profile, confirms the
install over mutual TLS. Each step is recorded in the keystore before the next, so the agent can
be stopped or killed at any point and resumes at the same step when started again; it ends
provisioned exactly once. It waits for the service as long as it takes (retrying with backoff),
prints numbered steps, then stays running, provisioned, until SIGINT or SIGTERM (exit 0). While
running it renews the certificate at the renewal window of its profile (see "device renew").

Flags:
  --dir DIR          the keystore directory  [required]
  --url URL          the service (default: the service URL recorded from the package at init)
  --station URL      once provisioned, check in at the central station at once and then every
                     --heartbeat seconds (default 300; 10-86400); failures are reported, not fatal
`;

export const DEVICE_RENEW_HELP = `provisio device renew: renew this device's certificate now (connected)

Examples:
  provisio device renew --dir /var/lib/provisio
  provisio device renew --dir ./keystore --rekey

Makes a certificate request (with the current key, or a new one with --rekey) and a renewal request
signed with the current key, and sends it over mutual TLS with the current certificate. The
service issues a new certificate from the component's template and a new certified profile; it
is verified against root.crt and installed in one step (the previous certificate stays until
then), then confirmed over mutual TLS with the new certificate. With --rekey the service then
revokes the old certificate (reason superseded). "provisio device run" does this by itself at
the renewal window of the profile (two thirds of the lifetime by default). An expired
certificate renews only within its component's grace period; a revoked one never does.

Flags:
  --dir DIR          the keystore directory  [required]
  --url URL          the service (default: the service URL recorded from the package at init)
  --rekey            make a new key and renew with it
  --json             machine-readable output
`;

export const DEVICE_REPROVISION_HELP = `provisio device reprovision: ask for a fresh certified profile with this device's identity

Examples:
  provisio device reprovision --dir /var/lib/provisio
  provisio device reprovision --dir ./keystore --wait 3600

A provisioned device asks over mutual TLS, with its current certificate, for a new certified
profile (same key, same identity). Unlike "device renew" it goes through the component's approval
policy: manual (the default) waits for an approver, automatic is approved at once. The device
keeps its current certificate while it waits; the new profile is verified against root.crt,
installed and confirmed over mutual TLS with the new certificate.

Flags:
  --dir DIR          the keystore directory  [required]
  --url URL          the service (default: the service URL recorded from the package at init)
  --wait SECONDS     give up after this long without a decision (default 900)
  --json             machine-readable output
`;

export const DEVICE_SHOW_HELP = `provisio device show: show this device's identity, state and keystore files

Examples:
  provisio device show --dir /var/lib/provisio
  provisio device show --dir ./keystore --json

Never prints the private key. Problems (a file readable by others, an interrupted install) are
listed as warnings on stderr and in the JSON "problems" field.

Flags:
  --dir DIR          the keystore directory  [required]
  --json             print the result as JSON
`;

export const DEVICE_AUDIT_HELP = `provisio device audit: list or verify the device's own security audit log

Examples:
  provisio device audit --dir /var/lib/provisio
  provisio device audit --dir /var/lib/provisio --verify
  provisio device audit --dir ./keystore --json

Reads security_audit_log.jsonl in the keystore: what the device recorded about its provisioning,
profile verification, installs, renewals, key rotations and check-ins. Every entry is checked
against the hash chain and the head file; the first broken entry ends the command with
device_audit_broken (exit 4) naming the finding: entry_malformed, hash_mismatch,
sequence_broken, chain_broken, truncated or head_mismatch (docs/device.md).

Flags:
  --dir DIR          the keystore directory  [required]
  --verify           only check the chain; print the verdict, not the entries
  --json             print the result as JSON
`;

export const DEVICE_DB_KEY_HELP = `provisio device db-key: print the key of the device's encrypted database

Examples:
  provisio device db-key --dir /var/lib/provisio
  provisio device db-key --dir /var/lib/provisio --init
  sqlcipher /var/lib/provisio/device.db   # then: PRAGMA key = "x'KEY'";

The key is derived from device.key (docs/device.md "The device database") and printed as hex
for tools such as the sqlcipher shell. It is a secret: whoever has it and device.db reads the
database. Printing it is recorded in the device's security audit log.

Flags:
  --dir DIR          the keystore directory  [required]
  --init             create device.db now when it does not exist yet (install makes it too)
  --json             print the result as JSON
`;

export const DEVICE_CHECK_IN_HELP = `provisio device check-in: check in at the central station over mutual TLS (test the connection after install)

Examples:
  provisio device check-in --dir /var/lib/provisio --station https://station.ward.example:9443
  provisio device check-in --dir ./keystore --station https://127.0.0.1:9443 --status degraded --message "battery low" --json

Presents the installed certificate with the device key and trusts only the keystore's root. The
station checks the certificate's revocation status (OCSP, or the CRL when the responder is down)
and records when the device was last seen. A revoked certificate is refused (exit 5,
station_refused: device_certificate_revoked) within the station's cut-off (docs/station.md); an
expired one, or one not under the station's root, is refused at the TLS handshake (exit 8,
station_unreachable).

Flags:
  --dir DIR          the keystore directory  [required]
  --station URL      the central station, https://HOST:PORT  [required]
  --status S         ok, degraded or fault (telemetry; optional)
  --message TEXT     up to 200 characters of telemetry (optional)
  --firmware V       the firmware version to report (default: the one given at init)
  --json             print the result as JSON
`;

export const SIMULATE_HELP = `provisio simulate: provision N simulated devices against a service (load and smoke test)

Examples:
  provisio simulate --package zmonitor.ppkg --component "bedside monitor" --devices 200
  provisio simulate --package zmonitor.ppkg --component gateway --devices 1000 --concurrency 64 \\
    --url https://127.0.0.1:8443 --prefix LOAD- --json
  PROVISIO_TOKEN=... provisio simulate --package zmonitor.ppkg --component sensor --devices 50 \\
    --mode disconnected --approve manual
  provisio simulate --package zmonitor.ppkg --component sensor --devices 50 --mode proxy \\
    --gateway https://gateway.local:9443

Each simulated device gets its own key and keystore directory (DIR/PREFIX00001, ...); all keys and
requests are made first, then the timed run starts. Modes:
  connected     each device runs what "device provision" runs: submit over HTTPS trusting only the
                package's root, wait (long-poll), verify and install the profile, confirm over
                mutual TLS
  proxy         the same against a gateway (--gateway URL), which serves the same device endpoints
  disconnected  devices only write request files; the simulator plays the technician over the API:
                upload each file, download its profile, install it on the device, complete it
Approval:
  auto          an automatic approval policy decides. With an API token (PROVISIO_TOKEN or
                --token-file) the simulator checks the component's policy and, if none is
                automatic, sets one on the component for deviceIds PREFIX + digits (admin token;
                it replaces the component's own policy). Without a token the service's policy is
                trusted as it is.
  manual        the simulator is the approver (approver or admin token): it approves its devices'
                pending requests as they appear; their wait is reported as human-wait time
Shows a progress bar on stderr when it is a terminal (plain lines otherwise), then a summary:
provisioned, failed by error code, enrollments per second, p50/p99 latency from a device's first
call to its confirmation (and p50/p99 human wait with manual approval). Exits 1 when any device
failed.

Flags:
  --package FILE       the provisioning package  [required]
  --component NAME     the component of the package's system the devices are  [required]
  --devices N          how many devices to simulate (1-100000)  [required]
  --mode M             connected (default), proxy or disconnected
  --approve A          auto (default) or manual
  --gateway URL        the gateway, for --mode proxy
  --token-file FILE    the API token (else PROVISIO_TOKEN): disconnected, manual, auto's policy
  --concurrency C      devices provisioning at once (default 8; 1-1024)
  --url URL            the service (default: the package's serviceUrl)
  --prefix P           deviceId prefix (default SIM-; IDs are P00001, P00002, ...)
  --dir DIR            parent directory of the keystores (default: a new temporary directory)
  --wait SECONDS       per device, give up after this long without approval (default 300)
  --json               print the summary as JSON
`;

export const REQUEST_BUNDLE_HELP = `provisio request bundle: collect many request files into one signed bundle (technician)

Examples:
  provisio request bundle --package zmonitor.ppkg --out /media/usb/requests.pbdl /media/usb/requests/
  provisio request bundle --package zmonitor.ppkg --out requests.pbdl DEV-001.ppr DEV-002.ppr

Works offline. Each FILE is a request made by "provisio device init" with this package (a
DIRECTORY stands for its *.ppr files); the file name becomes the entry name. The bundle lists
every file by name, size and SHA-256 in a manifest signed with the package's bootstrap
credential, so the service can tell that it came from a holder of the package and that nothing
was added, removed or changed; each request inside still carries its own two signatures. Up to
10,000 requests, 64 MiB. Written 0644 (requests are public). Upload it with
"provisio request upload FILE.pbdl".

Flags:
  --package FILE     the provisioning package the requests were made with  [required]
  --out FILE         the bundle to write (.pbdl); never overwritten  [required]
  --json             print the result as JSON
`;

export const BUNDLE_VERIFY_HELP = `provisio bundle verify: check a bundle's signature and every entry's SHA-256

Examples:
  provisio bundle verify /media/usb/profiles.pbdl --package zmonitor.ppkg
  provisio bundle verify profiles.pbdl --root root.crt --json

Works offline. Prints the manifest (type, signer, entries with size and SHA-256) and OK, or the
error code and exits non-zero (4 for a changed, added or removed entry, a bad signature or an
untrusted signer). A profile bundle must be signed by the service's profile signer under the
root; a request bundle by a package's bootstrap credential (with --package: that package's).

Flags:
  --root FILE        the root certificate to trust (PEM or DER)
  --package FILE     or: trust the package's root of trust
  --json             print the result as JSON
`;

export const BUNDLE_EXTRACT_HELP = `provisio bundle extract: verify a bundle and write its entries as single files

Examples:
  provisio bundle extract /media/usb/profiles.pbdl --dir /media/usb/profiles --package zmonitor.ppkg
  provisio device install --dir /var/lib/provisio /media/usb/profiles/DEV-001.pcp

Verifies the bundle as "bundle verify" does, then writes every entry into DIR under its name
(profiles 0600, requests 0644). Nothing is overwritten, and either all files are written or none.

Flags:
  --dir DIR          where to write the entries (created 0700 when missing)  [required]
  --root FILE        the root certificate to trust
  --package FILE     or: trust the package's root of trust
  --json             print the result as JSON
`;
