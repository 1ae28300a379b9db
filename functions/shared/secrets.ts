import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretReader } from './database';

/** Reads secrets from AWS Secrets Manager. Values are returned to the caller, never logged. */
export function secretsManagerReader(client: SecretsManagerClient = new SecretsManagerClient({})): SecretReader {
  return async (secretId) => {
    const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (result.SecretString === undefined) throw new Error(`Secret ${secretId} has no string value`);
    return result.SecretString;
  };
}
