"""Record sources (the CRM): the local JSON directory and Dataverse, behind domain.ports.RecordSource."""
