# Canopy web app, English: check-in, medals and challenges. Message ids are shared with the other language's file of the same name.
medals-title = Check-in and medals
medals-checkin = Daily check-in
medals-streak = Streak: { $days ->
    [one] { $days } day
   *[other] { $days } days
} in a row
medals-checked-today = You checked in today. Come back tomorrow to keep your streak.
medals-checkin-go = Check in today
medals-checked-in = Checked in: { $days ->
    [one] { $days } day
   *[other] { $days } days
} in a row.
medals-reward = Milestone reward: { $grams } g of energy.
medals-earned = Medals earned
medals-none = No medals yet.
medals-in-progress = On the way
medals-challenges = Challenges
medals-no-challenges = No challenges just now.
medals-goal-reduction = Goal: { $grams } g of verified reduction
medals-goal-reduction-of = Goal: { $grams } g of verified reduction in { $category }
medals-goal-acts = Goal: { $count } low-carbon acts
medals-goal-acts-of = Goal: { $count } acts of { $behavior }
medals-reward-each = { $grams } g of energy to share when the goal is met
medals-team-size = teams of up to { $count }
medals-my-team = You are in team { $team }.
medals-team-progress = Your team's progress
medals-join-alone = Join alone
medals-join-team = Join a team
medals-join-team-go = Join this team
medals-team-name = Or start a team named
medals-create-team = Start the team
medals-joined = You joined the challenge.
medals-challenge-closed = Not open for joining.
medals-refused-already-checked-in = You checked in today already.
medals-refused-already-joined = You have joined this challenge already.
medals-refused-team-full = This team is full.
medals-refused-challenge-ended = This challenge has ended.
medals-refused-invalid-team = Give the team a name of 1 to 40 characters.
medals-refused-team-not-found = There is no such team in this challenge.
medals-refused-challenge-not-found = There is no such challenge.
