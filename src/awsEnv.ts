/**
 * AWS client settings from an environment map, for the `fromEnv` factories:
 * an environment passed explicitly (a `cairn dev` stack's, a test's) must win
 * over whatever `process.env` says, which the SDK would read on its own.
 */

/** The services Cairn talks to, by the suffix of their endpoint variable. */
export type AwsService = "DYNAMODB" | "SQS";

export interface AwsClientSettings {
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts?: number;
}

/**
 * Region, endpoint, credentials and retry attempts for a client of `service`,
 * as the AWS SDK would read them from `env`:
 * - endpoint: `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, unless
 *   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`;
 * - region: `AWS_REGION`, else `AWS_DEFAULT_REGION`;
 * - credentials and `AWS_MAX_ATTEMPTS` only when `env` is not `process.env`
 *   (for `process.env` the SDK's own provider chain reads them, and refreshes
 *   what needs refreshing).
 * Settings `env` does not give are left out, so the SDK's defaults apply.
 */
export function awsClientSettings(service: AwsService, env: NodeJS.ProcessEnv = process.env): AwsClientSettings {
  const settings: AwsClientSettings = {};
  const region = nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  if (region) settings.region = region;
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() !== "true") {
    const endpoint = nonEmpty(env[`AWS_ENDPOINT_URL_${service}`]) ?? nonEmpty(env.AWS_ENDPOINT_URL);
    if (endpoint) settings.endpoint = endpoint;
  }
  if (env !== process.env) {
    const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
    const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
    if (accessKeyId && secretAccessKey) {
      const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
      settings.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
    }
    const attempts = Number(env.AWS_MAX_ATTEMPTS);
    if (Number.isSafeInteger(attempts) && attempts >= 1) settings.maxAttempts = attempts;
  }
  return settings;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
