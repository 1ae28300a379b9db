import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PassThrough } from 'node:stream';
import { isNotFound, isPreconditionFailed, isWriteConflict } from '../../functions/shared/s3';
import { freshBucket, readObject, useLocalS3 } from '../support/local-s3';

// The local bucket server stands in for S3 in every run and test, so the S3 behaviours the
// pipeline relies on are checked here against it, with a write held open half way.
const lake = useLocalS3([]);

describe('local S3 server', () => {
  it('shows an object only once its write has finished, and answers a racing conditional write with 409', async () => {
    const s3 = lake.client();
    const bucket = await freshBucket(s3, 'local-s3');
    const body = new PassThrough();
    const whole = Buffer.from(`${'x'.repeat(64 * 1024)}\n`);
    const writing = s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'lake/identity.json', Body: body, ContentLength: whole.length, IfNoneMatch: '*' }));
    body.write(whole.subarray(0, 1024));
    await new Promise((resolve) => setTimeout(resolve, 200));

    const early = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'lake/identity.json' })).catch((error: unknown) => error);
    expect(isNotFound(early)).toBe(true);
    const racing = await s3
      .send(new PutObjectCommand({ Bucket: bucket, Key: 'lake/identity.json', Body: 'other', IfNoneMatch: '*' }))
      .catch((error: unknown) => error);
    expect(isWriteConflict(racing)).toBe(true);
    expect(isPreconditionFailed(racing)).toBe(false);

    body.end(whole.subarray(1024));
    await writing;
    expect((await readObject(s3, bucket, 'lake/identity.json')).equals(whole)).toBe(true);
    const late = await s3
      .send(new PutObjectCommand({ Bucket: bucket, Key: 'lake/identity.json', Body: 'other', IfNoneMatch: '*' }))
      .catch((error: unknown) => error);
    expect(isPreconditionFailed(late)).toBe(true);
  });
});
