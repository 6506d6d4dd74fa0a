/** A cloud permission document: AWS IAM and Aliyun RAM share this shape (Version, Statement). */
export type Policy = { readonly Version: string; readonly Statement: readonly Record<string, unknown>[] };
