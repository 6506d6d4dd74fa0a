"""A real S3-compatible server for system tests: moto's, started by the test on an address of its choosing.

setup ENDPOINT BUCKET ROLE POLICY-FILE: creates the bucket, an administrator for the test, and the instance
role with exactly the policy the program gives it; assumes the role; then switches on moto's
authentication and authorization (SigV4 signatures and IAM policies are checked from then on). Prints
{"role": <temporary credentials>, "admin": <the administrator's keys>} as JSON.
"""
import json
import sys
import urllib.request

import boto3

REGION = "us-east-1"


def client(service, endpoint, **keys):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=keys.get("AccessKeyId", "setup"),
        aws_secret_access_key=keys.get("SecretAccessKey", "setup"),
        aws_session_token=keys.get("SessionToken"),
    )


def setup(endpoint, bucket, role, policy_file):
    client("s3", endpoint).create_bucket(Bucket=bucket)
    iam = client("iam", endpoint)
    iam.create_user(UserName="test-admin")
    iam.put_user_policy(
        UserName="test-admin",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    admin = iam.create_access_key(UserName="test-admin")["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    with open(policy_file, encoding="utf-8") as policy:
        iam.put_role_policy(RoleName=role, PolicyName="etcd-backup", PolicyDocument=policy.read())
    credentials = client("sts", endpoint).assume_role(RoleArn=arn, RoleSessionName="etcd-member")["Credentials"]
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request).read()
    print(
        json.dumps(
            {
                "role": {
                    "AccessKeyId": credentials["AccessKeyId"],
                    "SecretAccessKey": credentials["SecretAccessKey"],
                    "SessionToken": credentials["SessionToken"],
                    "Expiration": credentials["Expiration"].isoformat(),
                },
                "admin": {"AccessKeyId": admin["AccessKeyId"], "SecretAccessKey": admin["SecretAccessKey"]},
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(*sys.argv[2:6])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
