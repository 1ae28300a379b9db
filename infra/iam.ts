import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { Construct } from 'constructs';

/** An IAM policy statement, as AWS reads it. Policies are written as plain JSON so tests can read them back. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export function policyDocument(statements: readonly PolicyStatement[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

export interface ServiceRoleProps {
  readonly name: string;
  readonly description: string;
  /** The service that assumes the role, e.g. `lambda.amazonaws.com`. */
  readonly service: string;
  /** Limits who may make the service assume the role (the confused-deputy guard). */
  readonly sourceAccount?: string;
  readonly statements: readonly PolicyStatement[];
}

/** A role one service assumes, with one inline policy: everything it may do is in `statements`. */
export class ServiceRole extends Construct {
  readonly role: IamRole;
  readonly policy: IamRolePolicy;

  constructor(scope: Construct, id: string, props: ServiceRoleProps) {
    super(scope, id);
    this.role = new IamRole(this, 'role', {
      name: props.name,
      description: props.description,
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: props.service },
            Action: 'sts:AssumeRole',
            ...(props.sourceAccount ? { Condition: { StringEquals: { 'aws:SourceAccount': props.sourceAccount } } } : {}),
          },
        ],
      }),
    });
    this.policy = new IamRolePolicy(this, 'policy', {
      name: props.name,
      role: this.role.id,
      policy: policyDocument(props.statements),
    });
  }

  get arn(): string {
    return this.role.arn;
  }
}

/** X-Ray accepts no resource narrower than "*" for these. */
export const XRAY_WRITE: PolicyStatement = {
  Sid: 'XRayTraces',
  Effect: 'Allow',
  Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
  Resource: '*',
};
