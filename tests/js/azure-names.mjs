// Code written for Azure, unchanged: no authority, no endpoint but the vault's Azure URL, no test hooks. Run by
// tests/python/test_dev_azure_names.py against `strongroom dev --azure-hostnames`, with the environment
// `source dev.env` gives (which names no authority in that mode) and the hosts lines `strongroom trust` writes.
// Prints the value of the secret named on the command line.
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

const client = new SecretClient("https://dev.vault.azure.net", new DefaultAzureCredential());
const secret = await client.getSecret(process.argv[2]);
console.log(secret.value);
