import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { AppError } from '../errors/index.js';

/**
 * Passphrase encryption of whole archives (memory exports, backups): a key derived with scrypt from the
 * passphrase and a random salt, then AES-256-GCM. Layout: MAGIC | salt(16) | iv(12) | ciphertext | tag(16).
 * The header is authenticated too, so a changed byte anywhere fails to open.
 */
const MAGIC = Buffer.from('CLARION-ENC1\n');
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function deriveKey(passphrase: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase, salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export const isEncrypted = (data: Buffer): boolean =>
  data.length >= MAGIC.length && data.subarray(0, MAGIC.length).equals(MAGIC);

export async function sealWithPassphrase(plain: Buffer, passphrase: string): Promise<Buffer> {
  if (passphrase.length < 8)
    throw new AppError('VALIDATION_FAILED', 'passphrase: at least 8 characters', { field: 'passphrase' });
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await deriveKey(passphrase, salt);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const header = Buffer.concat([MAGIC, salt, iv]);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

export async function openWithPassphrase(data: Buffer, passphrase: string | undefined): Promise<Buffer> {
  if (!isEncrypted(data)) return data;
  if (!passphrase) throw new AppError('ARCHIVE_PASSPHRASE_REQUIRED');
  const headerLen = MAGIC.length + 28;
  if (data.length < headerLen + 16) throw new AppError('ARCHIVE_INVALID', 'The encrypted archive is truncated.');
  const header = data.subarray(0, headerLen);
  const salt = data.subarray(MAGIC.length, MAGIC.length + 16);
  const iv = data.subarray(MAGIC.length + 16, headerLen);
  const tag = data.subarray(data.length - 16);
  const key = await deriveKey(passphrase, salt);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(header);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(data.subarray(headerLen, data.length - 16)), decipher.final()]);
  } catch {
    // GCM cannot tell a wrong passphrase from a changed byte.
    throw new AppError('ARCHIVE_PASSPHRASE_WRONG', 'The passphrase is wrong or the archive was changed.');
  }
}
