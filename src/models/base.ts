// The base of the six models. Every query names its connection (the member's pool, or a transaction):
// no knex is bound globally, since one process may hold members on different databases (the tests do).
// Properties keep the columns' snake_case names, so the models and the
// hand-written SQL of the hot path (src/engine/sql/) say the same thing the same way; the API's wire
// shapes are made from them in src/definitions/present.ts and src/engine/monitor.ts.
//
// Optimistic locking is a capability of the versioned tables (flow, node and task instances): every
// status write is a fenced update that matches the row only at the version its writer read, and bumps
// it. A writer that lost a race (a coordinator paused past its lock, a reaped run's worker, a cancel
// racing a retry) changes nothing and learns it (StaleVersionError), instead of overwriting newer state.
import { Model, type ModelClass, type PartialModelObject, type TransactionOrKnex } from 'objection';
import { StaleVersionError } from '../errors.js';

export class BaseModel extends Model {}

export class VersionedModel extends BaseModel {
  version!: number;

  /**
   * The fenced single-row update: patches row `id` only while it is at version `expected`, and bumps its
   * version. Throws StaleVersionError when no row matched (it moved on, or does not exist).
   */
  static async patchIfVersion<M extends VersionedModel>(
    this: ModelClass<M>,
    id: number,
    expected: number,
    patch: PartialModelObject<M>,
    db: TransactionOrKnex,
  ): Promise<void> {
    const n = await this.query(db)
      .patch({ ...patch, version: expected + 1 } as PartialModelObject<M>)
      .where(this.idColumn as string, id)
      .where('version', expected);
    if (n !== 1) throw new StaleVersionError(`${this.tableName} ${id} is no longer at version ${expected}: it changed meanwhile`);
  }

  /** The same for a row read earlier: fenced by the version it was read at, which then follows the write. */
  async patchIfVersion<T extends VersionedModel>(this: T, patch: PartialModelObject<T>, db: TransactionOrKnex): Promise<void> {
    const cls = this.constructor as typeof VersionedModel;
    const id = (this as unknown as Record<string, number>)[cls.idColumn as string];
    await cls.patchIfVersion(id, this.version, patch as PartialModelObject<VersionedModel>, db);
    Object.assign(this, patch);
    this.version += 1;
  }

  /**
   * The fenced update for many rows, each at the version its writer read (`[id, version]` pairs): patches
   * those still at it, bumps their versions, and returns how many. The rows that moved on are the
   * caller's to look up (they are someone else's now).
   */
  static async patchEachIfVersion<M extends VersionedModel>(
    this: ModelClass<M>,
    pairs: [number, number][],
    patch: PartialModelObject<M>,
    db: TransactionOrKnex,
  ): Promise<number> {
    if (!pairs.length) return 0;
    const idColumn = this.idColumn as string;
    const n: number = await this.query(db)
      .patch({ ...patch, version: this.raw('version + 1') } as PartialModelObject<M>)
      .whereIn(idColumn, pairs.map(([id]) => id))
      .whereIn([idColumn, 'version'], pairs);
    return n;
  }
}
