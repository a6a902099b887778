import { createSecretKey, type KeyObject } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { AppError } from '../errors/index.js';

const ALG = 'HS256';
const ISSUER = 'clarion';
const AUDIENCE = 'clarion-api';

export interface AccessClaims {
  sub: string;
  sid: string;
}

/** Signs and verifies access JWTs. The algorithm is pinned: `alg: none` and any other algorithm fail. */
export class TokenSigner {
  // A KeyObject made once: given raw bytes, jose would import the HMAC key again on every verification.
  private readonly key: KeyObject;

  constructor(
    secret: string,
    private readonly ttlMs: number,
  ) {
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  async sign(claims: AccessClaims): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date(Date.now() + this.ttlMs);
    const token = await new SignJWT({ sid: claims.sid })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.key);
    return { token, expiresAt };
  }

  async verify(token: string): Promise<AccessClaims & { exp: number }> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [ALG],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'exp', 'sid'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') throw new AppError('TOKEN_INVALID');
      return { sub: payload.sub, sid: payload.sid, exp: payload.exp! };
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new AppError('TOKEN_EXPIRED');
      if (err instanceof AppError) throw err;
      throw new AppError('TOKEN_INVALID');
    }
  }
}
