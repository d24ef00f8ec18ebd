"""records.dataverse_view_filter on Quick Find views shaped as Dataverse publishes them: the find columns, and the
view's other conditions as OData $filter (what cannot be translated is true: broader results, listed as skipped).

View sources: "Quick Find Active Cases" as Dynamics 365 Customer Service ships it (statecode filter holding the
find filter); Microsoft's "Write quick find queries" sample for active accounts (powerapps-docs quick-find.md:
sibling filters); the account Quick Find fetchxml a model-driven app sends (quoted in fake-xrm-easy issue #506:
eq-userid, an outer link-entity); "Quick Find Active Contacts" with its stock find columns."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.model import Attribute
from records.dataverse_view_filter import translate

AGENT = "7f3c1a2b-0000-4000-8000-00000000a1ec"
NOW = datetime(2026, 12, 6, 20, 15, 30, tzinfo=UTC)


def attrs(**types: str) -> dict[str, Attribute]:
    return {name: Attribute(name, kind, name) for name, kind in types.items()}


CASE = attrs(incidentid="Uniqueidentifier", title="String", ticketnumber="String", customerid="Customer",
             statecode="State", statuscode="Status", prioritycode="Picklist", ownerid="Owner",
             createdon="DateTime", modifiedon="DateTime", isescalated="Boolean", description="Memo",
             caseorigincode="Picklist", followupby="DateTime")
ACCOUNT = attrs(accountid="Uniqueidentifier", name="String", accountnumber="String", telephone1="String",
                telephone2="String", emailaddress1="String", address1_city="String", primarycontactid="Lookup",
                parentaccountid="Lookup", statecode="State", ownerid="Owner", revenue="Money",
                creditonhold="Boolean", numberofemployees="Integer")
CONTACT = attrs(contactid="Uniqueidentifier", fullname="String", firstname="String", lastname="String",
                emailaddress1="String", telephone1="String", parentcustomerid="Customer", statecode="State")

QUICK_FIND_ACTIVE_CASES = """<fetch version="1.0" output-format="xml-platform" mapping="logical">
  <entity name="incident">
    <attribute name="title" /><attribute name="ticketnumber" /><attribute name="createdon" />
    <attribute name="incidentid" /><attribute name="caseorigincode" /><attribute name="customerid" />
    <order attribute="title" descending="false" />
    <filter type="and">
      <condition attribute="statecode" operator="eq" value="0" />
      <filter type="or" isquickfindfields="1">
        <condition attribute="title" operator="like" value="{0}" />
        <condition attribute="ticketnumber" operator="like" value="{0}" />
        <condition attribute="customerid" operator="like" value="{0}" />
      </filter>
    </filter>
  </entity>
</fetch>"""

# Microsoft's sample (quick-find.md), with its {0} as the view stores it rather than the formatted text.
QUICK_FIND_ACTIVE_ACCOUNTS_DOCS = """<fetch>
  <entity name='account'>
    <attribute name='accountid' /><attribute name='name' /><attribute name='accountnumber' />
    <attribute name='primarycontactid' /><attribute name='address1_city' /><attribute name='telephone1' />
    <attribute name='emailaddress1' />
    <filter type='or' isquickfindfields='1'>
      <condition attribute='telephone2' operator='like' value='{0}' />
      <condition attribute='telephone1' operator='like' value='{0}' />
      <condition attribute='emailaddress1' operator='like' value='{0}' />
      <condition attribute='accountnumber' operator='like' value='{0}' />
      <condition attribute='name' operator='like' value='{0}' />
    </filter>
    <filter type='and'>
      <condition attribute='statecode' operator='eq' value='0' />
    </filter>
    <order attribute='name' descending='false' />
  </entity>
</fetch>"""

MY_ACCOUNTS_QUICK_FIND = """<fetch version='1.0' output-format='xml-platform' mapping='logical'
    returntotalrecordcount='true' page='1' count='50' no-lock='false'>
  <entity name='account'>
    <attribute name='statecode'/><attribute name='entityimage_url'/><attribute name='parentaccountid'/>
    <attribute name='name'/><attribute name='address1_city'/>
    <order attribute='name' descending='false'/>
    <filter type='and'>
      <condition attribute='ownerid' operator='eq-userid'/>
      <condition attribute='statecode' operator='eq' value='0'/>
    </filter>
    <attribute name='primarycontactid'/><attribute name='telephone1'/><attribute name='accountid'/>
    <link-entity alias='accountprimarycontactidcontactcontactid' name='contact' from='contactid'
        to='primarycontactid' link-type='outer' visible='false'>
      <attribute name='emailaddress1'/>
    </link-entity>
    <filter type='or' isquickfindfields='1'>
      <condition attribute='accountnumber' operator='like' value='{0}'/>
      <condition attribute='emailaddress1' operator='like' value='{0}'/>
      <condition attribute='telephone1' operator='like' value='{0}'/>
      <condition attribute='telephone2' operator='like' value='{0}'/>
      <condition attribute='name' operator='like' value='{0}'/>
    </filter>
  </entity>
</fetch>"""

QUICK_FIND_ACTIVE_CONTACTS = """<fetch version="1.0" output-format="xml-platform" mapping="logical">
  <entity name="contact">
    <attribute name="fullname" /><attribute name="parentcustomerid" /><attribute name="telephone1" />
    <attribute name="emailaddress1" /><attribute name="contactid" />
    <order attribute="fullname" descending="false" />
    <filter type="and">
      <condition attribute="statecode" operator="eq" value="0" />
    </filter>
    <filter type="or" isquickfindfields="1">
      <condition attribute="fullname" operator="like" value="{0}" />
      <condition attribute="firstname" operator="like" value="{0}" />
      <condition attribute="lastname" operator="like" value="{0}" />
      <condition attribute="emailaddress1" operator="like" value="{0}" />
      <condition attribute="telephone1" operator="like" value="{0}" />
      <condition attribute="parentcustomerid" operator="like" value="{0}" />
    </filter>
  </entity>
</fetch>"""


def view(conditions: str, table: dict[str, Attribute] = CASE, outside: str = "") -> str:
    """A Quick Find case view with `conditions` in its AND filter, next to the find filter."""
    return (f'<fetch><entity name="incident"><attribute name="title" />{outside}<filter type="and">{conditions}'
            '<filter type="or" isquickfindfields="1"><condition attribute="title" operator="like" value="{0}" />'
            '</filter></filter></entity></fetch>')


def odata(conditions: str, user: str | None = AGENT, **kw: str) -> str:
    return translate(view(conditions, **kw), CASE).render(user, NOW)  # type: ignore[arg-type]


def test_stock_case_view_searches_active_cases_only() -> None:
    found = translate(QUICK_FIND_ACTIVE_CASES, CASE)
    assert found.find_columns == ("title", "ticketnumber")  # customerid is a lookup: no contains()
    assert found.render(AGENT, NOW) == found.render(None, NOW) == "statecode eq 0"
    assert found.skipped == ()


def test_microsofts_account_sample_with_sibling_filters() -> None:
    found = translate(QUICK_FIND_ACTIVE_ACCOUNTS_DOCS, ACCOUNT)
    assert found.find_columns == ("telephone2", "telephone1", "emailaddress1", "accountnumber", "name")
    assert found.render(None, NOW) == "statecode eq 0"


def test_current_user_condition_is_the_agent_or_left_out() -> None:
    found = translate(MY_ACCOUNTS_QUICK_FIND, ACCOUNT)
    assert found.uses_current_user and found.skipped == ()  # an outer join adds columns, not conditions
    assert found.render(AGENT, NOW) == f"(_ownerid_value eq {AGENT} and statecode eq 0)"
    assert found.render(None, NOW) == "statecode eq 0"
    assert found.render("not-a-guid') or (true", NOW) == "statecode eq 0"


def test_stock_contact_view() -> None:
    found = translate(QUICK_FIND_ACTIVE_CONTACTS, CONTACT)
    assert found.find_columns == ("fullname", "firstname", "lastname", "emailaddress1", "telephone1")
    assert found.render(None, NOW) == "statecode eq 0"


@pytest.mark.parametrize(("conditions", "expected"), [
    ('<condition attribute="statecode" operator="ne" value="2" />', "statecode ne 2"),
    ('<condition attribute="statecode" operator="neq" value="2" />', "statecode ne 2"),
    ('<condition attribute="prioritycode" operator="gt" value="1" /><condition attribute="prioritycode" '
     'operator="le" value="3" />', "(prioritycode gt 1 and prioritycode le 3)"),
    ('<condition attribute="statuscode" operator="in"><value>1</value><value>2</value></condition>',
     "(statuscode eq 1 or statuscode eq 2)"),
    ('<condition attribute="statuscode" operator="not-in"><value>5</value><value>6</value></condition>',
     "(statuscode ne 5 and statuscode ne 6)"),
    ('<condition attribute="customerid" operator="null" />', "_customerid_value eq null"),
    ('<condition attribute="description" operator="not-null" />', "description ne null"),
    ('<condition attribute="customerid" operator="eq" value="{A0000001-0000-4000-8000-00000000000A}" />',
     "_customerid_value eq a0000001-0000-4000-8000-00000000000a"),
    ('<condition attribute="isescalated" operator="eq" value="1" />', "isescalated eq true"),
    ('<condition attribute="title" operator="eq" value="O\'Brien" />', "title eq 'O''Brien'"),
    ('<condition attribute="title" operator="like" value="%printer%" />', "contains(title,'printer')"),
    ('<condition attribute="title" operator="like" value="Contoso%" />', "startswith(title,'Contoso')"),
    ('<condition attribute="title" operator="like" value="%outage" />', "endswith(title,'outage')"),
    ('<condition attribute="title" operator="not-like" value="%test%" />', "not contains(title,'test')"),
    ('<condition attribute="title" operator="begins-with" value="100%" />', "startswith(title,'100[%]')"),
    ('<condition attribute="title" operator="not-end-with" value="_x" />', "not endswith(title,'[_]x')"),
    ('<condition attribute="createdon" operator="on-or-after" value="2026-01-31" />',
     "createdon ge 2026-01-31T00:00:00Z"),
    ('<condition attribute="createdon" operator="on-or-before" value="2026-01-31" />',
     "createdon lt 2026-02-01T00:00:00Z"),
    ('<condition attribute="followupby" operator="lt" value="2026-03-01T08:00:00+01:00" />',
     "followupby lt 2026-03-01T07:00:00Z"),
    ('<condition attribute="createdon" operator="last-x-days" value="7" />',
     "(createdon ge 2026-11-29T00:00:00Z and createdon le 2026-12-06T20:15:30Z)"),
    ('<condition attribute="ownerid" operator="ne-userid" />', f"_ownerid_value ne {AGENT}"),
    ('<filter type="or"><condition attribute="statecode" operator="eq" value="0" /><filter type="and">'
     '<condition attribute="statecode" operator="eq" value="1" /><condition attribute="modifiedon" '
     'operator="on-or-after" value="2026-12-01" /></filter></filter>',
     "(statecode eq 0 or (statecode eq 1 and modifiedon ge 2026-12-01T00:00:00Z))"),
])
def test_operators(conditions: str, expected: str) -> None:
    assert odata(conditions) == expected


@pytest.mark.parametrize(("conditions", "skipped"), [
    ('<condition attribute="ownerid" operator="eq-businessid" />', "ownerid eq-businessid"),
    ('<condition attribute="title" operator="like" value="a%b" />', "title like a%b"),
    ('<condition attribute="statecode" operator="eq" value="0 or true" />', "statecode eq 0 or true"),
    ('<condition attribute="customerid" operator="eq" value="x) or (true" />', "customerid eq x) or (true"),
    ('<condition attribute="statecode eq 0 or title" operator="eq" value="1" />', "not a readable column"),
    ('<condition attribute="nosuchcolumn" operator="eq" value="1" />', "nosuchcolumn (not a readable column"),
    ('<condition attribute="fullname" operator="eq" value="x" entityname="c" />', "c.fullname (a linked table"),
    ('<condition attribute="title" operator="eq" value="{0}" />', "title eq {0}"),
    ('<condition attribute="createdon" operator="last-x-days" value="soon" />', "createdon last-x-days soon"),
])
def test_what_cannot_be_translated_is_left_out_and_named(conditions: str, skipped: str) -> None:
    found = translate(view(conditions + '<condition attribute="statecode" operator="eq" value="0" />'), CASE)
    assert found.render(AGENT, NOW) == "statecode eq 0"
    assert len(found.skipped) == 1 and skipped in found.skipped[0], found.skipped


def test_an_untranslatable_condition_in_an_or_group_makes_the_group_true() -> None:
    """Leaving out one branch of an OR would return less; the whole OR counts as true instead."""
    found = translate(view('<condition attribute="statecode" operator="eq" value="0" /><filter type="or">'
                           '<condition attribute="prioritycode" operator="eq" value="1" />'
                           '<condition attribute="ownerid" operator="eq-useroruserteams" /></filter>'), CASE)
    assert found.render(AGENT, NOW) == "statecode eq 0"
    found = translate(view('<filter type="or"><condition attribute="statecode" operator="eq" value="0" />'
                           '<condition attribute="ownerid" operator="eq-userid" /></filter>'), CASE)
    assert found.render(AGENT, NOW) == f"(statecode eq 0 or _ownerid_value eq {AGENT})"
    assert found.render(None, NOW) == ""  # not acting as an agent: no condition at all, never fewer rows


def test_link_entity_conditions_are_named_once() -> None:
    link = ('<link-entity name="account" from="accountid" to="customerid" alias="a" link-type="inner">'
            '<filter><condition attribute="statecode" operator="eq" value="0" /></filter></link-entity>')
    found = translate(view('<condition attribute="statecode" operator="eq" value="0" />', outside=link), CASE)
    assert found.render(None, NOW) == "statecode eq 0"
    assert found.skipped == ("link-entity account",)


def test_views_without_other_conditions_or_unreadable() -> None:
    found = translate('<fetch><entity name="incident"><filter type="or" isquickfindfields="1">'
                      '<condition attribute="title" operator="like" value="{0}" /></filter></entity></fetch>', CASE)
    assert (found.find_columns, found.render(AGENT, NOW), found.skipped) == (("title",), "", ())
    broken = translate("<fetch><entity", CASE)
    assert (broken.find_columns, broken.render(AGENT, NOW), broken.skipped) == ((), "", ("unreadable fetchxml",))
