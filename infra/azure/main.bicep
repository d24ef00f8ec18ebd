// connected-chats on Azure: Container Apps (two or more replicas) behind the Container Apps ingress,
// one PostgreSQL flexible server, secrets in Key Vault read through a user-assigned managed identity,
// logs in Log Analytics, traces and metrics in Application Insights, and an Azure Bot registration with the Microsoft Teams channel.
// Deploy and follow-up steps (Entra apps, Graph permissions, manifest build): infra/README.md.
targetScope = 'resourceGroup'

// ---------------------------------------------------------------- parameters

@description('Short name that prefixes every resource; lowercase letters, digits and hyphens, starting with a letter.')
@minLength(3)
@maxLength(16)
param baseName string = 'connchats'

@description('Region of every regional resource (the bot registration itself is global).')
param location string = resourceGroup().location

@description('Tags put on every resource.')
param tags object = {}

@description('Container image to run, for example myregistry.azurecr.io/connected-chats:0.1.0.')
param containerImage string

@description('Azure Container Registry in this resource group that holds the image; the identity gets AcrPull on it. Empty for a public image.')
param acrName string = ''

@description('vCPU per replica, as a string because Bicep has no decimal literals (0.5 pairs with 1Gi).')
param containerCpu string = '0.5'

@description('Memory per replica.')
param containerMemory string = '1Gi'

@description('Replicas always running. Two or more, so a restart or a platform move never drops the bot.')
@minValue(2)
param minReplicas int = 2

@description('Upper bound for the HTTP scale rule. Mind PostgreSQL connections: maxReplicas x pool size < max_connections.')
@minValue(2)
@maxValue(30)
param maxReplicas int = 10

@description('Concurrent HTTP requests per replica above which Container Apps adds a replica.')
@minValue(1)
param concurrentRequests int = 50

@description('Application (client) id of the Entra app registration the bot, Graph calls and (by default) tab SSO use. Single tenant.')
@minLength(36)
@maxLength(36)
param botAppId string

@description('Client secret of that app registration. Stored in Key Vault, never in app settings.')
@secure()
param botAppPassword string

@description('Azure Bot pricing tier; F0 covers the Teams channel.')
@allowed([
  'F0'
  'S1'
])
param botSku string = 'F0'

@description('PostgreSQL administrator login.')
param postgresAdminLogin string = 'connchatsadmin'

@description('PostgreSQL administrator password. Only ever stored inside the Key Vault secret database-url.')
@secure()
@minLength(12)
param postgresAdminPassword string

@description('PostgreSQL compute size. B2s allows 414 user connections: enough for maxReplicas 10 x a pool of 10 (B1ms allows 35).')
param postgresSkuName string = 'Standard_B2s'

@description('PostgreSQL compute tier matching postgresSkuName.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'

@description('Name of the application database.')
param databaseName string = 'connected_chats'

@description('RECORD_SOURCE: https://<org>.crm.dynamics.com for Dataverse; empty keeps the bundled demo records.')
param recordSource string = ''

@description('ALLOWED_TENANT_IDS, comma separated; empty means this deployment\'s tenant only.')
param allowedTenantIds string = ''

@description('SSO_CLIENT_ID: app registration of the tab SSO (webApplicationInfo.id in the manifest); empty means the bot app registration.')
param ssoClientId string = ''

@description('TEAMS_APP_ID: the Teams app (manifest) id, a GUID.')
param teamsAppId string = ''

@description('TEAMS_APP_CATALOG_ID: id of the app in the organisation catalog, known after the admin uploads the package.')
param teamsAppCatalogId string = ''

@description('DATAVERSE_WEBHOOK_KEY: shared key Dataverse sends with webhook calls. Stored in Key Vault.')
@secure()
param dataverseWebhookKey string = ''

@description('Create a workspace-based Application Insights resource and send traces and metrics there (APPLICATIONINSIGHTS_CONNECTION_STRING).')
param applicationInsights bool = true

@description('DATAVERSE_WEBHOOK_HEADER: name of the header that carries the webhook key.')
param dataverseWebhookHeader string = ''

@description('More non-secret settings for the container as NAME: value, for example { DATAVERSE_AUTH: \'azure\', GRAPH_BASE_URL: \'...\' }.')
param extraEnv object = {}

// ---------------------------------------------------------------- names and derived values

var suffix = uniqueString(resourceGroup().id, baseName)
var appName = baseName
var port = 3978
// Built-in role "Key Vault Secrets User".
var keyVaultSecretsUserRole = '4633458b-17de-408a-b874-0445c86b69e6'

// ---------------------------------------------------------------- identity, logs, secrets

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${baseName}-id'
  location: location
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${baseName}-logs-${suffix}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

// Traces and metrics (OpenTelemetry through azure-monitor-opentelemetry) land in the same workspace as the logs.
resource insights 'Microsoft.Insights/components@2020-02-02' = if (applicationInsights) {
  name: '${baseName}-ai-${suffix}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: false
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv${suffix}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // RBAC instead of access policies: the app identity gets exactly one role on this vault.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

resource kvSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUserRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRole)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    name: '${baseName}-pg-${suffix}'
    location: location
    tags: tags
    adminLogin: postgresAdminLogin
    adminPassword: postgresAdminPassword
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    databaseName: databaseName
  }
}

resource dbUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'database-url'
  properties: {
    value: 'postgresql://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.outputs.host}:5432/${databaseName}?sslmode=require'
  }
}

resource botPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'bot-app-password'
  properties: {
    value: botAppPassword
  }
}

// The connection string carries the ingestion key: a secret like the others, never a plain app setting.
resource insightsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (applicationInsights) {
  parent: vault
  name: 'appinsights-connection-string'
  properties: {
    value: applicationInsights ? insights.properties.ConnectionString : ''
  }
}

resource webhookKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(dataverseWebhookKey)) {
  parent: vault
  name: 'dataverse-webhook-key'
  properties: {
    value: dataverseWebhookKey
  }
}

module acrPull 'modules/acr-pull.bicep' = if (!empty(acrName)) {
  name: 'acr-pull'
  params: {
    acrName: acrName
    principalId: identity.properties.principalId
  }
}

// ---------------------------------------------------------------- hosting

resource env 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${baseName}-env'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

// The app's FQDN is <app name>.<environment default domain>; computing it here lets the app know its
// own PUBLIC_URL without referring to itself.
var publicUrl = 'https://${appName}.${env.properties.defaultDomain}'

// Key Vault references, resolved by Container Apps with the user-assigned identity.
var kvSecretRefs = concat(
  [
    {
      name: 'database-url'
      keyVaultUrl: dbUrlSecret.properties.secretUri
      identity: identity.id
    }
    {
      name: 'bot-app-password'
      keyVaultUrl: botPasswordSecret.properties.secretUri
      identity: identity.id
    }
  ],
  empty(dataverseWebhookKey) ? [] : [
    {
      name: 'dataverse-webhook-key'
      keyVaultUrl: '${vault.properties.vaultUri}secrets/dataverse-webhook-key'
      identity: identity.id
    }
  ],
  applicationInsights ? [
    {
      name: 'appinsights-connection-string'
      keyVaultUrl: '${vault.properties.vaultUri}secrets/appinsights-connection-string'
      identity: identity.id
    }
  ] : []
)

// Graph signs in as the bot's own app registration (same id, same secret): the app that installs
// itself into chats through Graph must be the one the Teams app package names (see infra/README.md).
var secretEnv = concat(
  [
    {
      name: 'DATABASE_URL'
      secretRef: 'database-url'
    }
    {
      name: 'MicrosoftAppPassword'
      secretRef: 'bot-app-password'
    }
    {
      name: 'AZURE_CLIENT_SECRET'
      secretRef: 'bot-app-password'
    }
  ],
  empty(dataverseWebhookKey) ? [] : [
    {
      name: 'DATAVERSE_WEBHOOK_KEY'
      secretRef: 'dataverse-webhook-key'
    }
  ],
  applicationInsights ? [
    {
      name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
      secretRef: 'appinsights-connection-string'
    }
  ] : []
)

var fixedSettings = {
  HOST: '0.0.0.0'
  PORT: string(port)
  PUBLIC_URL: publicUrl
  MicrosoftAppId: botAppId
  MicrosoftAppType: 'SingleTenant'
  MicrosoftAppTenantId: tenant().tenantId
  SSO_CLIENT_ID: empty(ssoClientId) ? botAppId : ssoClientId
  GRAPH_AUTH: 'azure'
  AZURE_CLIENT_ID: botAppId
  AZURE_TENANT_ID: tenant().tenantId
  ALLOWED_TENANT_IDS: empty(allowedTenantIds) ? tenant().tenantId : allowedTenantIds
}

// Optional settings are left out when empty so the service keeps its own defaults.
var optionalSettings = {
  RECORD_SOURCE: recordSource
  TEAMS_APP_ID: teamsAppId
  TEAMS_APP_CATALOG_ID: teamsAppCatalogId
  DATAVERSE_WEBHOOK_HEADER: dataverseWebhookHeader
}

var plainEnv = map(
  filter(items(union(optionalSettings, extraEnv, fixedSettings)), item => !empty(string(item.value))),
  item => {
    name: item.key
    value: string(item.value)
  }
)

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: appName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  dependsOn: [
    kvSecretsUser
    webhookKeySecret
    insightsSecret
    acrPull
  ]
  properties: {
    managedEnvironmentId: env.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: port
        transport: 'auto'
        allowInsecure: false
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
      secrets: kvSecretRefs
      registries: empty(acrName) ? [] : [
        {
          server: '${acrName}${environment().suffixes.acrLoginServer}'
          identity: identity.id
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'connected-chats'
          image: containerImage
          resources: {
            cpu: json(containerCpu)
            memory: containerMemory
          }
          env: concat(plainEnv, secretEnv)
          probes: [
            {
              // Migrations run on start: give the first boot up to ~100 s before liveness takes over.
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: port
              }
              initialDelaySeconds: 5
              periodSeconds: 10
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: port
              }
              periodSeconds: 15
              failureThreshold: 3
            }
            {
              // Not ready (no traffic) while the database is unreachable; the replica is not restarted.
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: port
              }
              periodSeconds: 10
              failureThreshold: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequests)
              }
            }
          }
        ]
      }
    }
  }
}

module bot 'modules/bot.bicep' = {
  name: 'bot'
  params: {
    name: '${baseName}-bot-${suffix}'
    tags: tags
    sku: botSku
    endpoint: '${publicUrl}/api/messages'
    appId: botAppId
    tenantId: tenant().tenantId
  }
}

// ---------------------------------------------------------------- outputs (no secrets)

@description('PUBLIC_URL for `python -m manifest build` and the SSO app\'s Application ID URI host.')
output publicUrl string = publicUrl

@description('Host name served by the Container Apps ingress.')
output fqdn string = app.properties.configuration.ingress.fqdn

@description('Messaging endpoint registered on the Azure Bot.')
output botEndpoint string = bot.outputs.endpoint

@description('MicrosoftAppId for the manifest build (the bot id in the Teams manifest).')
output botAppId string = botAppId

output tenantId string = tenant().tenantId

@description('Managed identity that reads Key Vault and pulls the image.')
output identityPrincipalId string = identity.properties.principalId

output keyVaultName string = vault.name

@description('Application Insights resource receiving traces and metrics (empty when turned off).')
output applicationInsightsName string = applicationInsights ? insights.name : ''

output postgresHost string = postgres.outputs.host

output containerAppName string = app.name

output botName string = bot.outputs.name
