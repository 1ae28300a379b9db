import { DataAwsSecretsmanagerSecret } from '@cdktf/provider-aws/lib/data-aws-secretsmanager-secret';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { Construct } from 'constructs';
import type { InfraConfig, SecretSource } from './config';

/** A database's credentials: `{"username","password","host","port","dbname"}`. */
export interface DatabaseSecret {
  readonly arn: string;
  readonly name: string;
}

/**
 * The ToteSys and warehouse credentials. Created empty (the operator puts the value, so it never
 * passes through Terraform state), or, when configured by name, existing secrets referenced as
 * they are. Only the step that needs a secret may read it (see functions.ts).
 */
export class PipelineSecrets extends Construct {
  readonly totesys: DatabaseSecret;
  readonly warehouse: DatabaseSecret;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    this.totesys = this.secret('totesys', config.secrets.totesys, 'ToteSys (source PostgreSQL)', config);
    this.warehouse = this.secret('warehouse', config.secrets.warehouse, 'data warehouse (target PostgreSQL)', config);
  }

  private secret(id: string, source: SecretSource, what: string, config: InfraConfig): DatabaseSecret {
    if (!source.create) {
      const existing = new DataAwsSecretsmanagerSecret(this, id, { name: source.name });
      return { arn: existing.arn, name: source.name };
    }
    const created = new SecretsmanagerSecret(this, id, {
      name: source.name,
      description: `Credentials of the ${what} for the ToteSys pipeline, as JSON {"username","password","host","port","dbname"}. Set by the operator: see docs/deploy.md.`,
      // Without force-destroy a deleted secret is recoverable for 30 days (and its name taken).
      recoveryWindowInDays: config.forceDestroy ? 0 : 30,
    });
    return { arn: created.arn, name: source.name };
  }
}
