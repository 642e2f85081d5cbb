import Handoff
let r = MMcModel(servers: 8, customers: 1_000_000).run()
print(r.meanWait, r.events, ErlangC.meanWait(servers: 8, arrivalRate: 7.2, serviceRate: 1))
