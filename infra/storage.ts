import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { Construct } from 'constructs';
import { MANIFEST_PREFIX } from '../functions/shared/lake-layout';
import type { InfraConfig } from './config';
import type { AwsAccount } from './aws-account';

/** Noncurrent versions only arise from an operator's overwrite or delete: kept long enough to undo one. */
const NONCURRENT_VERSION_DAYS = 30;
const INCOMPLETE_UPLOAD_DAYS = 2;

export interface PipelineStorageProps {
  readonly config: InfraConfig;
  readonly account: AwsAccount;
}

/**
 * The lake: the ingestion bucket (Extract's JSONL) and the processed bucket (Transform's
 * Parquet). Both append-only: versioned, encrypted, private, TLS only, and once the pipeline's
 * roles exist (`appendOnlyFor`), those roles can neither delete an object nor overwrite a
 * manifest.
 */
export class PipelineStorage extends Construct {
  readonly ingestionBucket: S3Bucket;
  readonly processedBucket: S3Bucket;

  constructor(scope: Construct, id: string, props: PipelineStorageProps) {
    super(scope, id);
    this.ingestionBucket = this.lakeBucket('ingestion', props);
    this.processedBucket = this.lakeBucket('processed', props);
  }

  /** Bucket policies: TLS only for everyone; no deletes and no unconditional manifest writes by `roleArns`. */
  appendOnlyFor(roleArns: readonly string[]): void {
    for (const [id, bucket] of [
      ['ingestion', this.ingestionBucket],
      ['processed', this.processedBucket],
    ] as const) {
      new S3BucketPolicy(this, `${id}-policy`, {
        bucket: bucket.id,
        policy: JSON.stringify(appendOnlyBucketPolicy(bucket.arn, roleArns)),
      });
    }
  }

  private lakeBucket(name: 'ingestion' | 'processed', { config, account }: PipelineStorageProps): S3Bucket {
    const bucket = new S3Bucket(this, name, {
      // Bucket names are global: the account id keeps them unique.
      bucket: `${config.resourcePrefix}-${name}-${account.accountId}`,
      forceDestroy: config.forceDestroy,
    });
    new S3BucketOwnershipControls(this, `${name}-ownership`, {
      bucket: bucket.id,
      rule: { objectOwnership: 'BucketOwnerEnforced' },
    });
    new S3BucketPublicAccessBlock(this, `${name}-public-access-block`, {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketVersioningA(this, `${name}-versioning`, {
      bucket: bucket.id,
      versioningConfiguration: { status: 'Enabled' },
    });
    new S3BucketServerSideEncryptionConfigurationA(this, `${name}-encryption`, {
      bucket: bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
    });
    new S3BucketLifecycleConfiguration(this, `${name}-lifecycle`, {
      bucket: bucket.id,
      rule: [
        {
          id: 'expire-noncurrent-versions',
          status: 'Enabled',
          filter: [{}],
          noncurrentVersionExpiration: [{ noncurrentDays: NONCURRENT_VERSION_DAYS }],
        },
        {
          id: 'abort-incomplete-multipart-uploads',
          status: 'Enabled',
          filter: [{}],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: INCOMPLETE_UPLOAD_DAYS }],
        },
      ],
    });
    return bucket;
  }
}

/**
 * The lake's bucket policy. Principals are matched by `aws:PrincipalArn` rather than named as
 * principals: a role named in a bucket policy must already be visible to S3 when the policy is
 * written, which a role created in the same apply often is not yet.
 */
export function appendOnlyBucketPolicy(bucketArn: string, roleArns: readonly string[]) {
  const pipelineRoles = { ArnEquals: { 'aws:PrincipalArn': [...roleArns] } };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
      {
        Sid: 'DenyDeletesByThePipeline',
        Effect: 'Deny',
        Principal: '*',
        Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
        Resource: `${bucketArn}/*`,
        Condition: pipelineRoles,
      },
      // A manifest is a batch's commit point: the steps write it with If-None-Match: *, so S3
      // refuses a second commit of the same batch. Only manifests: data objects are uploaded with
      // @aws-sdk/lib-storage, which cannot send If-None-Match, and their keys carry a fresh
      // attempt id, so no attempt ever writes to a key that exists.
      {
        Sid: 'DenyManifestWritesWithoutIfNoneMatch',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:PutObject',
        Resource: `${bucketArn}/${MANIFEST_PREFIX}*`,
        Condition: { ...pipelineRoles, Null: { 's3:if-none-match': 'true' } },
      },
      {
        Sid: 'DenyManifestOverwrites',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:PutObject',
        Resource: `${bucketArn}/${MANIFEST_PREFIX}*`,
        Condition: { ...pipelineRoles, StringNotEquals: { 's3:if-none-match': '*' } },
      },
    ],
  };
}
