// Example parameters. Secrets are read from environment variables at deploy time, never written here:
//   export POSTGRES_ADMIN_PASSWORD=...   BOT_APP_ID=... BOT_APP_PASSWORD=... (DATAVERSE_WEBHOOK_KEY when used)
//   az deployment group create -g <rg> -f infra/azure/main.bicep -p infra/azure/main.bicepparam
using './main.bicep'

param baseName = 'connchats'
param containerImage = 'myregistry.azurecr.io/connected-chats:0.1.0'
param acrName = 'myregistry'

// The single-tenant Entra app registration of the bot (README: "Entra app registration").
param botAppId = readEnvironmentVariable('BOT_APP_ID')
param botAppPassword = readEnvironmentVariable('BOT_APP_PASSWORD')

param postgresAdminPassword = readEnvironmentVariable('POSTGRES_ADMIN_PASSWORD')

param minReplicas = 2
param maxReplicas = 10
param concurrentRequests = 50

param recordSource = 'https://contoso.crm.dynamics.com'
param ssoClientId = readEnvironmentVariable('SSO_CLIENT_ID', '')
param teamsAppId = readEnvironmentVariable('TEAMS_APP_ID', '')
param dataverseWebhookKey = readEnvironmentVariable('DATAVERSE_WEBHOOK_KEY', '')
param dataverseWebhookHeader = ''
param extraEnv = {}
