import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ROLES, Role, WfsConfig } from '@wfs/config';
import { conflict, invalid, notFound, WfsError } from '@wfs/domain';
import type { Repository } from 'typeorm';
import { ApiTokenEntity, Database } from '@wfs/persistence';

export interface Principal {
  name: string;
  role: Role;
}

const RANK: Record<Role, number> = { viewer: 0, da: 1, service: 1, ops: 2, admin: 3 };

/** Whether a role may do what `required` may do (service is da for programs). */
export const roleAllows = (role: Role, required: Role): boolean => RANK[role] >= RANK[required];

const hash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Bearer tokens: from WFS_API_TOKENS and from the api_tokens table, where
 * only their sha256 is kept. Lookups go by hash (the hash of a guess says
 * nothing about a real token); configured ones are compared in constant time.
 */
export class TokenService {
  private readonly configured: Array<{ hash: Buffer; role: Role }>;
  private readonly cache = new Map<string, { principal: Principal | null; at: number }>();

  constructor(
    private readonly db: Database,
    config: Pick<WfsConfig, 'apiTokens'>,
    /** The listing reads through the entity; authentication and writes keep their SQL. */
    private readonly tokens: Repository<ApiTokenEntity>,
  ) {
    this.configured = config.apiTokens.map((t) => ({ hash: hash(t.token), role: t.role }));
  }

  async authenticate(token: string): Promise<Principal | null> {
    if (!token || token.length > 512) return null;
    const digest = hash(token);
    let found: Principal | null = null;
    for (const c of this.configured) {
      if (timingSafeEqual(c.hash, digest) && !found)
        found = { name: `${c.role}-token`, role: c.role };
    }
    if (found) return found;
    const key = digest.toString('hex');
    const cached = this.cache.get(key);
    // A short cache keeps the token table off the hot path; revocation takes effect within it.
    if (cached && Date.now() - cached.at < 5000) return cached.principal;
    const [row] = await this.db.query<{ name: string; role: Role }>(
      'SELECT name, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL',
      [key],
    );
    const principal = row ? { name: row.name, role: row.role } : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { principal, at: Date.now() });
    return principal;
  }

  /** Creates a token; the clear text is returned once and never stored. */
  async create(
    name: string,
    role: Role,
    by: Principal,
  ): Promise<{ id: number; name: string; role: Role; token: string }> {
    if (!ROLES.includes(role))
      throw invalid('INVALID_ROLE', `role must be one of ${ROLES.join(', ')}.`, {
        fields: { role: 'is not a role' },
      });
    if (!roleAllows(by.role, role)) {
      throw new WfsError(
        'forbidden',
        'ROLE_TOO_HIGH',
        `A ${by.role} token cannot create a ${role} token.`,
        { role },
      );
    }
    const token = `wfs_${randomBytes(24).toString('base64url')}`;
    const [row] = await this.db
      .query<{ id: string }>(
        'INSERT INTO api_tokens (name, role, token_hash) VALUES ($1, $2, $3) RETURNING id',
        [name, role, hash(token).toString('hex')],
      )
      .catch((e: { code?: string }) => {
        if (e.code === '23505')
          throw conflict(
            'TOKEN_NAME_TAKEN',
            `A token named ${name} exists; revoke it or pick another name.`,
            {
              fields: { name: 'is taken' },
            },
          );
        throw e;
      });
    return { id: Number(row?.id), name, role, token };
  }

  async list(): Promise<
    Array<{ id: number; name: string; role: Role; createdAt: string; revokedAt: string | null }>
  > {
    const rows = await this.tokens.find({
      select: { id: true, name: true, role: true, createdAt: true, revokedAt: true },
      order: { id: 'ASC' },
    });
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role as Role,
      createdAt: r.createdAt.toISOString(),
      revokedAt: r.revokedAt?.toISOString() ?? null,
    }));
  }

  async revoke(id: number): Promise<void> {
    const rows = await this.db.query(
      'UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id',
      [id],
    );
    if (rows.length === 0) throw notFound('token', id);
    this.cache.clear();
  }
}
