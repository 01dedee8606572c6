/**
 * A setup payload drawn as a QR code (the qrcode library renders it into a data: PNG, which the
 * page's Content-Security-Policy allows for images). The payload holds a secret: the picture is
 * shown once, with the warning, like the code itself.
 */
import { useEffect, useState } from 'react';
import QRCode from 'qrcode';

export function QrImage({ text, label }: { text: string; label: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    QRCode.toDataURL(text, { errorCorrectionLevel: 'M', margin: 4, scale: 6 }).then((url) => {
      if (live) setSrc(url);
    }, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [text]);
  if (error) return <p className="error">The QR code could not be drawn: {error}</p>;
  return src ? <img className="qr" src={src} alt={label} data-testid="setup-qr" /> : <p>Drawing the QR code…</p>;
}
