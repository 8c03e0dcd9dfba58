"""The creditor's website widget: what a debtor may ask from a web page (a call back at a time
he picks), how he is identified (his number on a case, or a signed case link the creditor put
in the page), and the limits that keep an open web form from being turned against anyone."""
