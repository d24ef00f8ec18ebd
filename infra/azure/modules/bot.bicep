// Azure Bot registration pointing at the service's /api/messages, with the Microsoft Teams channel.

@description('Bot resource name, unique across Azure.')
param name string

param tags object = {}

@allowed([
  'F0'
  'S1'
])
param sku string = 'F0'

@description('Messaging endpoint, https://<host>/api/messages.')
param endpoint string

@description('Application (client) id of the single-tenant Entra app registration the bot signs in with.')
param appId string

@description('Tenant of that app registration.')
param tenantId string

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  kind: 'azurebot'
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    displayName: 'Connected chats'
    description: 'Connects Teams group chats to CRM records.'
    endpoint: endpoint
    msaAppId: appId
    // New multi-tenant bot registrations are deprecated; single tenant matches MicrosoftAppType.
    msaAppType: 'SingleTenant'
    msaAppTenantId: tenantId
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
      enableCalling: false
    }
  }
}

output endpoint string = bot.properties.endpoint

output name string = bot.name
