import { closeSync, openSync, readFileSync, readdirSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import * as zlib from 'node:zlib';

/**
 * Writes a folder as a zip archive, synchronously (a construct cannot await) and byte for byte
 * the same for the same files: entries in sorted order, every timestamp 1980-01-01. So the
 * archive's SHA-256 is a content hash, and it is what Lambda reports as CodeSha256: Terraform's
 * `source_code_hash` changes exactly when the code does.
 *
 * Plain zip (no ZIP64): every file and the archive stay far below 4 GiB, as Lambda's limits do.
 */
export interface ZipArchiveSummary {
  readonly files: number;
  readonly unzippedBytes: number;
  readonly zippedBytes: number;
}

const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
const DOS_TIME_MIDNIGHT = 0;
const UTF8_NAMES = 0x0800;
const MADE_BY_UNIX = (3 << 8) | 20;
const STORED = 0;
const DEFLATED = 8;

export function writeZipArchive(sourceDir: string, zipFile: string): ZipArchiveSummary {
  const entries = listFiles(sourceDir);
  if (entries.length > 0xffff) throw new Error(`${sourceDir}: more than 65535 files for a plain zip`);
  const central: Buffer[] = [];
  const fd = openSync(zipFile, 'w');
  let offset = 0;
  let unzippedBytes = 0;
  const write = (buffer: Buffer) => {
    for (let done = 0; done < buffer.length; ) done += writeSync(fd, buffer, done);
    offset += buffer.length;
  };
  try {
    for (const relative of entries) {
      const file = path.join(sourceDir, relative);
      const data = readFileSync(file);
      const mode = statSync(file).mode & 0o777;
      const deflated = zlib.deflateRawSync(data, { level: 6 });
      const method = deflated.length < data.length ? DEFLATED : STORED;
      const body = method === DEFLATED ? deflated : data;
      const name = Buffer.from(relative.split(path.sep).join('/'), 'utf-8');
      const crc = crc32(data) >>> 0;
      if (data.length >= 0xffffffff || offset >= 0xffffffff) throw new Error(`${zipFile}: too large for a plain zip at ${relative}`);

      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(UTF8_NAMES, 6);
      local.writeUInt16LE(method, 8);
      local.writeUInt16LE(DOS_TIME_MIDNIGHT, 10);
      local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(body.length, 18);
      local.writeUInt32LE(data.length, 22);
      local.writeUInt16LE(name.length, 26);
      local.writeUInt16LE(0, 28);

      const header = Buffer.alloc(46);
      header.writeUInt32LE(0x02014b50, 0);
      header.writeUInt16LE(MADE_BY_UNIX, 4);
      header.writeUInt16LE(20, 6);
      header.writeUInt16LE(UTF8_NAMES, 8);
      header.writeUInt16LE(method, 10);
      header.writeUInt16LE(DOS_TIME_MIDNIGHT, 12);
      header.writeUInt16LE(DOS_DATE_1980_01_01, 14);
      header.writeUInt32LE(crc, 16);
      header.writeUInt32LE(body.length, 20);
      header.writeUInt32LE(data.length, 24);
      header.writeUInt16LE(name.length, 28);
      header.writeUInt32LE(((0o100000 | mode) << 16) >>> 0, 38);
      header.writeUInt32LE(offset, 42);
      central.push(header, name);

      write(local);
      write(name);
      write(body);
      unzippedBytes += data.length;
    }
    const centralStart = offset;
    for (const part of central) write(part);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(entries.length, 8);
    end.writeUInt16LE(entries.length, 10);
    end.writeUInt32LE(offset - centralStart, 12);
    end.writeUInt32LE(centralStart, 16);
    write(end);
  } finally {
    closeSync(fd);
  }
  return { files: entries.length, unzippedBytes, zippedBytes: offset };
}

/** zlib.crc32 arrived in Node 20.15 and 22.2; earlier versions compute it here. */
const crc32: (data: Buffer) => number =
  typeof zlib.crc32 === 'function'
    ? (data) => zlib.crc32(data)
    : (() => {
        const table = Array.from({ length: 256 }, (_, n) => {
          let c = n;
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
          return c >>> 0;
        });
        return (data: Buffer) => {
          let crc = 0xffffffff;
          for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
          return (crc ^ 0xffffffff) >>> 0;
        };
      })();

/** Every file under `dir`, as paths relative to it, in a stable order. */
export function listFiles(dir: string, relative = ''): string[] {
  return readdirSync(path.join(dir, relative), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const child = path.join(relative, entry.name);
      if (entry.isDirectory()) return listFiles(dir, child);
      if (entry.isFile()) return [child];
      throw new Error(`${path.join(dir, child)}: only files and folders can be packaged`);
    });
}
