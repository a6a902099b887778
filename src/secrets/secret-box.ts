import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1';

/**
 * AES-256-GCM envelope for stored credentials: `enc:v1:<key id>:<iv>:<tag>:<ciphertext>` (base64url).
 * The key id (first 8 hex of the key's sha256) tells which master key sealed a value, for rotation.
 */
export class SecretBox {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the master key must be 32 bytes');
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
  }

  static isSealed(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(`${PREFIX}:`);
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [PREFIX, this.keyId, iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join(
      ':',
    );
  }

  open(sealed: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 6 || `${parts[0]}:${parts[1]}` !== PREFIX) throw new Error('not a sealed value');
    const [, , keyId, iv, tag, ct] = parts as [string, string, string, string, string, string];
    if (keyId !== this.keyId) throw new Error(`sealed with another master key (${keyId})`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** Decodes a master key given as base64 (32 bytes) or 64 hex characters. */
export function parseMasterKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) throw new Error('must be 32 bytes, as base64 or 64 hex characters');
  return key;
}
