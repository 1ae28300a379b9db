import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TOTESYS_INSERT_ORDER, TOTESYS_TABLES, TOTESYS_TABLE_NAMES, type TotesysTableName } from '../../functions/shared/totesys-tables';

/** Every foreign key TOTESYS_TABLES records, checked by Transform or not, as `table.column -> target`. */
function recordedForeignKeys(): string[] {
  return Object.values(TOTESYS_TABLES).flatMap((table) =>
    Object.entries({ ...table.references, ...table.orderReferences }).map(([column, target]) => `${table.name}.${column} -> ${target}`),
  );
}

/** The foreign keys the ToteSys DDL declares, read from the file the seed and the tests create ToteSys with. */
function declaredForeignKeys(): string[] {
  const ddl = readFileSync(path.join(__dirname, '../../scripts/totesys/schema.sql'), 'utf-8');
  return [...ddl.matchAll(/CREATE TABLE (\w+) \(([^;]*)\);/g)].flatMap(([, table, body]) =>
    [...body!.matchAll(/^\s*(\w+)\s.*\bREFERENCES (\w+) \(/gm)].map(([, column, target]) => `${table}.${column} -> ${target}`),
  );
}

const referencedBy = (name: TotesysTableName) => Object.values({ ...TOTESYS_TABLES[name].references, ...TOTESYS_TABLES[name].orderReferences });

describe('the order the ToteSys tables are inserted in', () => {
  it('holds every one of the 11 tables, once', () => {
    expect(TOTESYS_INSERT_ORDER).toHaveLength(11);
    expect([...TOTESYS_INSERT_ORDER].sort()).toEqual([...TOTESYS_TABLE_NAMES].sort());
  });

  it('puts every table after every table it references', () => {
    for (const [position, table] of TOTESYS_INSERT_ORDER.entries()) {
      const before = new Set(TOTESYS_INSERT_ORDER.slice(0, position));
      const later = referencedBy(table).filter((target) => !before.has(target));
      expect({ table, referencesInsertedLater: later }).toEqual({ table, referencesInsertedLater: [] });
    }
  });

  it('takes, of the tables that could come next, the first in the name list', () => {
    for (const [position, table] of TOTESYS_INSERT_ORDER.entries()) {
      const before = new Set(TOTESYS_INSERT_ORDER.slice(0, position));
      const ready = TOTESYS_TABLE_NAMES.filter((name) => !before.has(name) && referencedBy(name).every((target) => before.has(target)));
      expect({ position, table }).toEqual({ position, table: ready[0] });
    }
  });

  // The order is derived from the references: a foreign key missing from them would let a table
  // be inserted before a table it references.
  it('is derived from references that are every foreign key the ToteSys schema declares', () => {
    expect(recordedForeignKeys().sort()).toEqual(declaredForeignKeys().sort());
    expect(declaredForeignKeys()).toHaveLength(17);
  });
});
